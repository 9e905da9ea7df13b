"""The backend seam: where array work runs.

A run (or a replay) of one subject type is a `Job`: the plan, the society, the seed
and the number of days. The engine hands a backend chunks of a job's subjects and calls
two things, nothing else:

- `outbox(job, start, end)`: pass A, the misattributed records the chunk's subjects
  send to others;
- `score(job, start, end, incoming, acc, final, ...)`: pass B, everything else: records,
  scores, lists, consequences and metrics, into `acc` and `final`.

Chunks are independent, so they can run in threads, processes or on other machines.
Backends: `cpu` (the Numba kernel, GIL released) and `numpy` (engine/_numpy_backend.py:
plain NumPy, day by day, written to be read; the yardstick the fast ones are held to).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple, Protocol

import numpy as np

from socialcredit.engine import _layout as L
from socialcredit.engine._kernel import run_chunk as _cpu_run_chunk
from socialcredit.engine._plan import TypePlan
from socialcredit.errors import RunConfigError, SocialCreditError

FIFO_CAPACITY = 1 << 13  # the smallest ring buffer of a subject's counting records


def fifo_capacity(plan: TypePlan, days: int) -> int:
    """A ring buffer that holds every record a subject can have counting at once: a
    behaviour acts at most once a day and a channel makes at most one false positive a
    day, over the window (or the run, if shorter); misattributed records from others
    get a margin on top (a subject receiving more than that is an error, said so)."""
    a = plan.arrays
    per_day = int((a.behaviours.rate > 0).sum() + (a.channels.fp_rate > 0).sum())
    need = min(plan.window, days) * max(per_day, 1) * 5 // 4 + 1024
    return max(FIFO_CAPACITY, 1 << (need - 1).bit_length())


class Sent(NamedTuple):
    """Misattributed records of a chunk, in the order made: (source, day, behaviour)."""

    target: np.ndarray
    day: np.ndarray
    kind: np.ndarray
    src: np.ndarray


@dataclass(frozen=True)
class Job:
    """One subject type of one run: everything a backend needs for a chunk.

    `replay`: the subjects do nothing of their own (the service's path): every record
    is incoming, and carries its identity in `Incoming.key`."""

    plan: TypePlan
    society: L.Society
    seed: int
    days: int
    replay: bool = False
    fifo_capacity: int = FIFO_CAPACITY  # a power of two

    @property
    def n(self) -> int:
        return int(self.society.seg.shape[0])

    def accumulators(self) -> L.Accumulators:
        p = self.plan
        return L.accumulators(self.days, len(p.segments), len(p.grades), len(p.lists),
                              len(p.kinds), len(p.behaviours), p.n_regions,
                              p.n_bins, len(p.measures), len(p.services))

    def expected_records(self, n: int) -> int:
        a = self.plan.arrays
        per_day = float(a.behaviours.rate.sum() + a.channels.fp_rate.sum())
        return int(2 * per_day * self.days * n) + 4096


class Backend(Protocol):
    name: str

    def outbox(self, job: Job, start: int, end: int) -> Sent: ...

    def score(self, job: Job, start: int, end: int, incoming: L.Incoming,
              acc: L.Accumulators, final: L.Final, ledger: bool,
              records: L.RecordOut) -> dict[str, np.ndarray] | None: ...


class CpuBackend:
    """Numba on the CPU; one chunk per call, GIL released."""

    name = "cpu"

    def outbox(self, job: Job, start: int, end: int) -> Sent:
        cap = max(1024, job.expected_records(end - start) // 8)
        while True:
            box = L.outbox(cap)
            self._call(True, job, start, end, L.no_incoming(), _DUMMY_ACC, _DUMMY_FINAL, box,
                       _NO_LEDGER, _NO_RECORDS)
            count = int(box.n[0])
            if count <= cap:
                return Sent(*(a[:count].copy() for a in box[:4]))
            cap = count

    def score(self, job: Job, start: int, end: int, incoming: L.Incoming,
              acc: L.Accumulators, final: L.Final, ledger: bool,
              records: L.RecordOut) -> dict[str, np.ndarray] | None:
        cap = job.expected_records(end - start) if ledger else 0
        led = L.ledger(cap) if ledger else _NO_LEDGER
        over = self._call(False, job, start, end, incoming, acc, final, _NO_BOX, led, records)
        if over:
            raise SocialCreditError(
                f"a subject had more than {job.fifo_capacity - 1} records counting at once"
                " (misattributed records from others piled up); lower the misattribution"
                " or the score window")
        if not ledger:
            return None
        count = int(led.n[0])
        if count > cap:  # rare: run again, into scratch accumulators, for the rows only
            led = L.ledger(count)
            self._call(False, job, start, end, incoming, job.accumulators(), final, _NO_BOX,
                       led, records)
        return {"day": led.day[:count].astype(np.int32), "subject": led.subject[:count].copy(),
                "kind": led.kind[:count].astype(np.int16),
                "flags": led.flags[:count].astype(np.int8), "doer": led.doer[:count].copy()}

    @staticmethod
    def _call(mode_a: bool, job: Job, start: int, end: int, incoming: L.Incoming,
              acc: L.Accumulators, final: L.Final, box: L.Outbox, led: L.Ledger,
              records: L.RecordOut) -> int:
        p = job.plan
        work = L.work(len(p.behaviours), len(p.channels), len(p.lists), len(p.kinds),
                      job.fifo_capacity)
        return int(_cpu_run_chunk(mode_a, job.replay, job.seed, start, end, job.days,
                                  p.arrays, p.consequences, job.society, incoming, acc, final,
                                  box, led, work, records))


# pass A writes no metrics, no states and no ledger; these keep the kernel's argument
# types (one compilation)
_DUMMY_ACC = L.accumulators(*(0,) * 10)
_DUMMY_FINAL = L.final_arrays(0, 0, False)
_NO_BOX = L.Outbox(*(np.zeros(0, np.int64) for _ in range(5)))
_NO_LEDGER = L.Ledger(*(np.zeros(0, np.int64) for _ in range(6)))  # n empty: not asked
_NO_RECORDS = L.record_out(0)


def _numpy_backend() -> Backend:
    from socialcredit.engine._numpy_backend import NumpyBackend

    return NumpyBackend()


_BACKENDS = {"cpu": CpuBackend, "numpy": _numpy_backend}


def backend_names() -> list[str]:
    return sorted(_BACKENDS)


def get_backend(name: str) -> Backend:
    """The backend called `name` ('cpu' or 'numpy')."""
    try:
        return _BACKENDS[name]()
    except KeyError:
        raise RunConfigError(
            f"unknown backend {name!r}; available: {', '.join(sorted(_BACKENDS))}"
        ) from None
