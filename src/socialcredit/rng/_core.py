from __future__ import annotations

import hashlib

import numba as nb
import numpy as np

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_TYPE_SHIFT = np.uint64(1) << np.uint64(40)


@nb.njit(inline="always", cache=True)
def mix64(z: np.uint64) -> np.uint64:
    z = (z ^ (z >> _S30)) * _M1
    z = (z ^ (z >> _S27)) * _M2
    return z ^ (z >> _S31)


@nb.njit(inline="always", cache=True)
def stream_key(seed: np.uint64, subject_type: int, subject: int, stream: np.uint64) -> np.uint64:
    """The key of one subject's named stream: mixes seed, subject and stream id."""
    s = np.uint64(subject) + np.uint64(subject_type) * _TYPE_SHIFT
    return mix64(mix64(seed ^ mix64(s * _GAMMA + stream)) + stream)


@nb.njit(inline="always", cache=True)
def u01(key: np.uint64, counter: int) -> float:
    """The counter-th uniform of a stream, in the open interval (0, 1)."""
    x = mix64(key + (np.uint64(counter) + np.uint64(1)) * _GAMMA)
    return ((x >> _S11) + 0.5) * (1.0 / 9007199254740992.0)


@nb.njit(cache=True, nogil=True)
def _uniforms(seed: np.uint64, subject_type: int, stream: np.uint64, start: int, n: int,
              counter: int) -> np.ndarray:
    out = np.empty(n, dtype=np.float64)
    for i in range(n):
        out[i] = u01(stream_key(seed, subject_type, start + i, stream), counter)
    return out


def uniforms(seed: int, subject_type: int, stream: str, start: int, n: int,
             counter: int = 0) -> np.ndarray:
    """Uniform draws for subjects start..start+n-1 of one type from the named stream."""
    return _uniforms(np.uint64(seed), subject_type, np.uint64(hash_name(stream)), start, n,
                     counter)


def hash_name(name: str) -> int:
    """A stable 64-bit stream id for a name (BLAKE2b, not Python's salted hash)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")
