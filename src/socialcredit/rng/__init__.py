"""Counter-based random numbers: every draw is a pure function of (seed, subject, stream,
counter).

Why: a draw does not depend on which thread, chunk, machine or GPU made it, so results
are the same at any parallelism, and two policies run on one seed see the same society
and the same acts (common random numbers). Streams are named, and their ids are hashes of
the names, so adding a behaviour to a policy does not shift the draws of the others.

The mixer is SplitMix64's finaliser (Steele, Lea & Flood 2014), applied twice to build
keys and once per draw; it passes BigCrush as a counter-based generator.
"""

from socialcredit.rng._core import (
    hash_name,
    mix64,
    stream_key,
    u01,
    uniforms,
)

__all__ = ["hash_name", "mix64", "stream_key", "u01", "uniforms"]
