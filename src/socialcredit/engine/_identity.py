"""Stable identities of subjects and records, and the draws keyed by them.

Credit repair is random ("a listed debtor complies within 60 days with probability
0.25"), but whether a given record is repaired must not depend on how it is looked at:
not on a subject's position in a batch, a chunk, or the day of the query. So the draw
is keyed by (seed, the subject's id, the record's id) and nothing else.

A simulated subject is `p<index>` (persons) or `c<index>` (companies), and its record is
`sim:<subject>:<day>:<kind>:<n>` (n numbers the subject's records of one kind on one
day, from 0). `socialcredit ingest` stores them under exactly these ids, so the service
draws what the simulator drew. Records sent to the service keep the ids their authority
gave them.

The identity is FNV-1a (64 bit) over the UTF-8 bytes of `subject id` + 0x1F + `record
id`; the kernel computes the same bytes from integers without building a string.
"""

from __future__ import annotations

import numba as nb
import numpy as np

from socialcredit.rng._core import mix64, u01

FNV_OFFSET = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
_SEP = 0x1F
REPAIR_STREAM = np.uint64(0x5EB1A1C0FFEE1234)
PREFIX = {"person": "p", "company": "c"}


def sim_subject_id(type_name: str, index: int) -> str:
    """The id of simulated subject `index` of a type (what `ingest` stores)."""
    return f"{PREFIX[type_name]}{index}"


def sim_record_id(subject_id: str, day: int, kind: str, n: int) -> str:
    """The id of a simulated record (what `ingest` stores)."""
    return f"sim:{subject_id}:{day}:{kind}:{n}"


def record_identity(subject_id: str, record_id: str) -> int:
    """The 64-bit identity of a record of a subject (see the module docstring)."""
    data = np.frombuffer(subject_id.encode() + bytes([_SEP]) + record_id.encode(), np.uint8)
    return int(np.uint64(_fnv_bytes(FNV_OFFSET, data, 0, data.shape[0])))


def repair_seed(seed: int) -> np.uint64:
    """The key of the repair draws of a run (or a service) seeded with `seed`."""
    return np.uint64(_repair_seed(np.uint64(seed)))


def repaired(seed_key: np.uint64, identity: int, probability: float) -> bool:
    """Whether the record with this identity is repaired (Python side of `_repaired`)."""
    # both keys as uint64: Numba would type a Python int as int64, and mix signs
    return bool(_repaired(np.uint64(seed_key), np.uint64(identity), float(probability)))


@nb.njit(inline="always", cache=True)
def _fnv_byte(h: np.uint64, b: int) -> np.uint64:
    return (h ^ np.uint64(b)) * FNV_PRIME


@nb.njit(cache=True)
def _fnv_bytes(h: np.uint64, data: np.ndarray, lo: int, hi: int) -> np.uint64:
    for j in range(lo, hi):
        h = _fnv_byte(h, data[j])
    return h


@nb.njit(cache=True)
def _fnv_decimal(h: np.uint64, x: int) -> np.uint64:
    """Feed the decimal digits of x >= 0."""
    p = 1
    while x // p >= 10:
        p *= 10
    while p > 0:
        h = _fnv_byte(h, 48 + (x // p) % 10)
        p //= 10
    return h


@nb.njit(cache=True)
def sim_identity(prefix: int, index: int, day: int, names: np.ndarray, lo: int, hi: int,
                 n: int) -> np.uint64:
    """`record_identity(sim_subject_id(...), sim_record_id(...))`, from integers."""
    h = _fnv_decimal(_fnv_byte(FNV_OFFSET, prefix), index)
    h = _fnv_byte(h, _SEP)
    for b in (115, 105, 109, 58):  # "sim:"
        h = _fnv_byte(h, b)
    h = _fnv_decimal(_fnv_byte(h, prefix), index)
    h = _fnv_decimal(_fnv_byte(h, 58), day)
    h = _fnv_bytes(_fnv_byte(h, 58), names, lo, hi)
    return _fnv_decimal(_fnv_byte(h, 58), n)


@nb.njit(cache=True)
def _repair_seed(seed: np.uint64) -> np.uint64:
    return mix64(mix64(seed ^ REPAIR_STREAM) + REPAIR_STREAM)


@nb.njit(cache=True)
def _repaired(seed_key: np.uint64, identity: np.uint64, probability: float) -> bool:
    return probability > 0.0 and u01(seed_key ^ mix64(identity), 0) < probability
