"""Run a policy on a synthetic society: chunks, threads, the two passes, the ledger."""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from socialcredit.engine._backend import Backend, get_backend
from socialcredit.engine._kernel import FALSE, MISATTRIBUTED
from socialcredit.engine._plan import TypePlan, compile_policy
from socialcredit.errors import RunConfigError, SocialCreditError
from socialcredit.policy import Policy
from socialcredit.population import PERSON, Population, build_population

DEFAULT_CHUNK = 1 << 16
FIFO_CAPACITY = 1 << 13

#: progress(pass_name, subjects_done, subjects_total, records_made)
Progress = Callable[[str, int, int, int], None]
LedgerSink = Callable[[str, dict[str, np.ndarray]], None]


@dataclass
class TypeResult:
    """What happened to one subject type: daily difference arrays and final states."""

    plan: TypePlan
    n_subjects: int
    segment_sizes: np.ndarray
    acc: dict[str, np.ndarray]
    final: dict[str, np.ndarray]
    region: np.ndarray
    n_misattributed: int = 0


@dataclass
class RunResult:
    """A finished run. `summary()` and `daily_metrics()` (engine/_metrics.py) read it."""

    policy: Policy
    seed: int
    n_persons: int
    days: int
    population: Population
    types: dict[str, TypeResult]
    threads: int
    chunk_size: int
    seconds: float
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def records(self) -> int:
        return int(sum(t.acc["rec"].sum() for t in self.types.values()))

    @property
    def person_days(self) -> int:
        return self.n_persons * self.days


def simulate(
    policy: Policy,
    population: int | None = None,
    days: int | None = None,
    seed: int = 0,
    *,
    threads: int | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    ledger: LedgerSink | None = None,
    progress: Progress | None = None,
    backend: str | Backend = "cpu",
) -> RunResult:
    """Run `policy` on a synthetic society of `population` persons for `days` days.

    The result depends only on (policy, population, days, seed): not on `threads` or
    `chunk_size`. `ledger`, if given, receives every record, chunk by chunk in subject
    order, as columns. `progress` is called as chunks finish.

    >>> from socialcredit.scenarios import load_scenario
    >>> r = simulate(load_scenario("reference"), population=2000, days=30, seed=1)
    >>> r.records > 0
    True
    """
    n = policy.run.population if population is None else population
    d = policy.run.days if days is None else days
    _check_sizes(n, d, seed, threads, chunk_size)
    threads = threads or min(os.cpu_count() or 1, 8)
    be = get_backend(backend) if isinstance(backend, str) else backend
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    pop = build_population(policy, n, seed)
    timings["population"] = time.perf_counter() - t0
    plans = compile_policy(policy)
    types: dict[str, TypeResult] = {}
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for name, plan in plans.items():
            t1 = time.perf_counter()
            types[name] = _run_type(be, plan, pop, d, seed, pool, threads, chunk_size,
                                    ledger, progress)
            timings[name] = time.perf_counter() - t1
    return RunResult(policy=policy, seed=seed, n_persons=n, days=d, population=pop,
                     types=types, threads=threads, chunk_size=chunk_size,
                     seconds=time.perf_counter() - t0, timings=timings)


def _check_sizes(n: int, d: int, seed: int, threads: int | None, chunk: int) -> None:
    if not 1 <= n <= 2_000_000_000:
        raise RunConfigError(f"population must be between 1 and 2,000,000,000, got {n}")
    if not 1 <= d <= 20_000:
        raise RunConfigError(f"days must be between 1 and 20,000, got {d}")
    if not 0 <= seed < 2**63:
        raise RunConfigError(f"seed must be an integer in [0, 2**63), got {seed}")
    if threads is not None and not 1 <= threads <= 1024:
        raise RunConfigError(f"threads must be between 1 and 1024, got {threads}")
    if not 1 <= chunk <= 1 << 30:
        raise RunConfigError(f"chunk size must be between 1 and 2**30, got {chunk}")


def _subjects(plan: TypePlan, pop: Population) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                         np.ndarray]:
    """(region, segment, traits, n_children) of the subjects of one type."""
    if plan.subject_type == PERSON:
        seg = np.where(pop.is_child, -1, 0).astype(np.int8)
        return pop.person_region, seg, pop.person_traits, pop.n_children
    zeros = np.zeros(pop.n_companies, dtype=np.int32)
    return pop.company_region, pop.company_kind, pop.company_traits, zeros


def _run_type(be: Backend, plan: TypePlan, pop: Population, days: int, seed: int,
              executor: ThreadPoolExecutor, threads: int, chunk_size: int,
              ledger: LedgerSink | None, progress: Progress | None) -> TypeResult:
    region, seg, traits, n_children = _subjects(plan, pop)
    n = region.shape[0]
    n_reg = int(plan.arrays["cov"].shape[0])
    sim = seg >= 0
    order = np.argsort(region[sim], kind="stable")
    pool_ids = np.flatnonzero(sim)[order].astype(np.int64)
    pool_off = np.concatenate([[0], np.cumsum(np.bincount(region[sim], minlength=n_reg))])
    ctx = _Context(be, plan, seed, days, region, seg, traits, n_children, pool_ids,
                   pool_off.astype(np.int64))
    chunks = [(s, min(s + chunk_size, n)) for s in range(0, n, chunk_size)]
    label = {"person": "persons", "company": "companies"}[plan.type_name]

    incoming = _empty_incoming()
    if plan.misattributes and n:
        parts = []
        done = 0
        for part in executor.map(ctx.outbox, chunks):
            parts.append(part)
            done += part[-1]
            if progress:
                progress(f"{label}: misattribution", done, n, 0)
        incoming = _sort_incoming(parts, days)

    sets: queue.SimpleQueue[dict[str, np.ndarray]] = queue.SimpleQueue()
    all_sets = [ctx.new_accumulators() for _ in range(min(threads, max(len(chunks), 1)))]
    for acc in all_sets:
        sets.put(acc)
    final = {
        "score": np.empty(n, np.int32), "grade": np.empty(n, np.int8),
        "mask": np.empty(n, np.uint16), "tmask": np.empty(n, np.uint16),
    }

    def work(bounds: tuple[int, int]) -> tuple[int, dict[str, np.ndarray] | None, int]:
        acc = sets.get()
        try:
            made_before = int(acc["rec"].sum()) if progress else 0
            led = ctx.score_chunk(bounds, incoming, acc, final, ledger is not None)
            made = int(acc["rec"].sum()) - made_before if progress else 0
            return bounds[1] - bounds[0], led, made
        finally:
            sets.put(acc)

    done = 0
    made_total = 0
    for size, led, made in _ordered(executor, work, chunks):
        done += size
        made_total += made
        if ledger is not None and led is not None:
            ledger(plan.type_name, led)
        if progress:
            progress(label, done, n, made_total)
    acc = all_sets[0]
    for other in all_sets[1:]:
        for key in acc:
            acc[key] += other[key]
    sizes = np.bincount(seg[sim].astype(np.int64), minlength=len(plan.segments))
    return TypeResult(plan=plan, n_subjects=n, segment_sizes=sizes, acc=acc, final=final,
                      region=region, n_misattributed=int(incoming[0].shape[0]))


def _ordered(executor: ThreadPoolExecutor, fn: Callable, items: list) -> Iterator:
    """Map in order, with at most a few results waiting, so ledger memory stays bounded."""
    window = max(2, 2 * executor._max_workers)  # noqa: SLF001 - sizing the look-ahead only
    futures: list = []
    it = iter(items)
    for item in it:
        futures.append(executor.submit(fn, item))
        if len(futures) >= window:
            break
    while futures:
        head = futures.pop(0)
        result = head.result()
        nxt = next(it, None)
        if nxt is not None:
            futures.append(executor.submit(fn, nxt))
        yield result


def _empty_incoming() -> tuple[np.ndarray, ...]:
    return tuple(np.empty(0, np.int64) for _ in range(5))


def _sort_incoming(parts: list, days: int) -> tuple[np.ndarray, ...]:
    target = np.concatenate([p[0] for p in parts])
    day = np.concatenate([p[1] for p in parts])
    kind = np.concatenate([p[2] for p in parts])
    src = np.concatenate([p[3] for p in parts])
    # parts are in subject order, so a stable sort on (target, day) is independent of
    # how subjects were chunked
    order = np.argsort(target * days + day, kind="stable")
    flags = np.full(order.shape[0], FALSE | MISATTRIBUTED, dtype=np.int64)
    return target[order], day[order], kind[order], src[order], flags


@dataclass
class _Context:
    be: Backend
    plan: TypePlan
    seed: int
    days: int
    region: np.ndarray
    seg: np.ndarray
    traits: np.ndarray
    n_children: np.ndarray
    pool: np.ndarray
    pool_off: np.ndarray

    def new_accumulators(self) -> dict[str, np.ndarray]:
        p = self.plan
        d, s, g, nl = self.days, len(p.segments), len(p.grades), len(p.lists)
        nk, nb_, nr = len(p.kinds), len(p.behaviours), int(p.arrays["cov"].shape[0])
        z = np.zeros
        return {
            "grade": z((d, s, g), np.int64), "list": z((d, s, nl), np.int64),
            "wrong": z((d, s, nl), np.int64), "child": z((d, nl + 1), np.int64),
            "hist": z((d, p.n_bins), np.int32), "rec": z((d, nk), np.int64),
            "false": z((d, nk), np.int64), "acts": z((d, nb_), np.int64),
            "reg_acts": z((d, nr, nb_), np.int64), "reg_list": z((nr, nl), np.int64),
            "ever": z((s, nl), np.int64),
        }

    def expected_records(self, n: int) -> int:
        a = self.plan.arrays
        per_day = float(a["b_rate"].sum() + a["c_fp_rate"].sum())
        return int(2 * per_day * self.days * n) + 4096

    def _call(self, mode_a: bool, bounds: tuple[int, int], incoming: tuple, acc: dict,
              final: dict, box: tuple, led: tuple, led_on: bool) -> int:
        start, end = bounds
        sl = slice(start, end)
        fifo = (np.empty(FIFO_CAPACITY, np.int64), np.empty(FIFO_CAPACITY, np.int64),
                np.empty(FIFO_CAPACITY, np.int64))
        return self.be.run_chunk(
            mode_a, self.seed, self.plan, start, end, self.days, self.region, self.seg,
            self.traits, self.n_children, self.pool, self.pool_off, incoming, acc,
            (final["score"][sl], final["grade"][sl], final["mask"][sl], final["tmask"][sl]),
            box, led_on, led, fifo,
        )

    def outbox(self, bounds: tuple[int, int]) -> tuple[np.ndarray, ...]:
        """Pass A over one chunk: the misattributed records it sends to other subjects."""
        cap = max(1024, self.expected_records(bounds[1] - bounds[0]) // 8)
        dummy_final = _dummy_final()
        while True:
            box = tuple(np.empty(cap, np.int64) for _ in range(4)) + (np.zeros(1, np.int64),)
            self._call(True, bounds, _empty_incoming(), _DUMMY_ACC, dummy_final, box,
                       _dummy_ledger(), False)
            count = int(box[4][0])
            if count <= cap:
                return (*(b[:count].copy() for b in box[:4]), bounds[1] - bounds[0])
            cap = count

    def score_chunk(self, bounds: tuple[int, int], incoming: tuple, acc: dict, final: dict,
                    led_on: bool) -> dict[str, np.ndarray] | None:
        """Pass B over one chunk: scores, lists, metrics, and its ledger rows if asked."""
        cap = self.expected_records(bounds[1] - bounds[0]) if led_on else 0
        led = _ledger_buffers(cap)
        over = self._call(False, bounds, incoming, acc, final, _dummy_box(), led, led_on)
        if over:
            raise SocialCreditError(
                f"a subject had more than {FIFO_CAPACITY - 1} records counting at once;"
                " lower the rates or the score window"
            )
        if not led_on:
            return None
        count = int(led[5][0])
        if count > cap:  # rare: run again, into scratch accumulators, for the rows only
            led = _ledger_buffers(count)
            self._call(False, bounds, incoming, self.new_accumulators(), final, _dummy_box(),
                       led, True)
        return {
            "day": led[0][:count].astype(np.int32),
            "subject": led[1][:count].copy(),
            "kind": led[2][:count].astype(np.int16),
            "flags": led[3][:count].astype(np.int8),
            "doer": led[4][:count].copy(),
        }


def _ledger_buffers(cap: int) -> tuple[np.ndarray, ...]:
    return tuple(np.empty(cap, np.int64) for _ in range(5)) + (np.zeros(1, np.int64),)


def _dummy_box() -> tuple[np.ndarray, ...]:
    return tuple(np.empty(0, np.int64) for _ in range(4)) + (np.zeros(1, np.int64),)


def _dummy_ledger() -> tuple[np.ndarray, ...]:
    return _ledger_buffers(0)


def _dummy_final() -> dict[str, np.ndarray]:
    return {"score": np.empty(0, np.int32), "grade": np.empty(0, np.int8),
            "mask": np.empty(0, np.uint16), "tmask": np.empty(0, np.uint16)}


# pass A writes no metrics; these keep the kernel's argument types (one compilation)
_DUMMY_ACC: dict[str, np.ndarray] = {
    "grade": np.zeros((0, 0, 0), np.int64), "list": np.zeros((0, 0, 0), np.int64),
    "wrong": np.zeros((0, 0, 0), np.int64), "child": np.zeros((0, 0), np.int64),
    "hist": np.zeros((0, 0), np.int32), "rec": np.zeros((0, 0), np.int64),
    "false": np.zeros((0, 0), np.int64), "acts": np.zeros((0, 0), np.int64),
    "reg_acts": np.zeros((0, 0, 0), np.int64), "reg_list": np.zeros((0, 0), np.int64),
    "ever": np.zeros((0, 0), np.int64),
}
