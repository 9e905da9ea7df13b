"""Run a policy on a synthetic society: chunks, threads, the two passes, the ledger."""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from socialcredit.engine._backend import Backend, Job, Sent, fifo_capacity, get_backend
from socialcredit.engine._kernel import FALSE, MISATTRIBUTED
from socialcredit.engine._layout import (
    Accumulators,
    Final,
    Incoming,
    Society,
    add_accumulators,
    final_arrays,
    no_incoming,
    record_out,
    slice_final,
)
from socialcredit.engine._plan import TypePlan, compile_policy
from socialcredit.errors import RunConfigError
from socialcredit.policy import Policy
from socialcredit.population import PERSON, Population, build_population

DEFAULT_CHUNK = 1 << 16

#: progress(pass_name, subjects_done, subjects_total, records_made)
Progress = Callable[[str, int, int, int], None]
LedgerSink = Callable[[str, dict[str, np.ndarray]], None]


@dataclass
class TypeResult:
    """What happened to one subject type: daily difference arrays and final states."""

    plan: TypePlan
    n_subjects: int
    segment_sizes: np.ndarray
    acc: Accumulators
    final: Final
    region: np.ndarray
    n_misattributed: int = 0


@dataclass(repr=False)
class RunResult:
    """A finished run. `summary()` and `daily_metrics()` (engine/_metrics.py) read it;
    `to_polars()` and `to_arrow()` give its daily metrics as a table, `save(dir)` writes
    it as `simulate` does."""

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
    backend: str = "cpu"

    @property
    def records(self) -> int:
        return int(sum(t.acc.rec.sum() for t in self.types.values()))

    @property
    def person_days(self) -> int:
        return self.n_persons * self.days

    def __repr__(self) -> str:
        return (f"<RunResult {self.policy.meta.name!r}: {self.n_persons:,} persons,"
                f" {self.population.n_companies:,} companies, {self.days} days, seed"
                f" {self.seed}, {self.records:,} records, {self.seconds:.2f} s>")

    def summary(self) -> dict:
        """End-of-run statistics (engine/_metrics.py summary)."""
        from socialcredit.engine._metrics import summary

        return summary(self)

    def to_arrow(self):  # noqa: ANN201 - pyarrow.Table, imported lazily
        """The daily metrics, one row per day, as a pyarrow Table."""
        from socialcredit.engine._metrics import daily_metrics
        from socialcredit.engine._output import metrics_table

        return metrics_table(daily_metrics(self))

    def to_polars(self):  # noqa: ANN201 - polars.DataFrame, imported lazily
        """The daily metrics, one row per day, as a Polars DataFrame."""
        import polars as pl

        return pl.from_arrow(self.to_arrow())

    def save(self, out: str | os.PathLike, report: bool = False) -> list[str]:
        """Write the run directory `out` as `socialcredit simulate` does (replacing an
        earlier run there, whole); returns the file names."""
        from socialcredit.engine._output import save_run

        return save_run(self, out, report=report)


def simulate(
    policy: Policy | str | os.PathLike,
    population: int | None = None,
    days: int | None = None,
    seed: int | None = None,
    *,
    threads: int | None = None,
    chunk_size: int = DEFAULT_CHUNK,
    ledger: LedgerSink | None = None,
    progress: Progress | None = None,
    backend: str | Backend = "cpu",
    dates: bool = False,
) -> RunResult:
    """Run `policy` (a Policy, a built-in scenario's name or a policy file) on a
    synthetic society of `population` persons for `days` days (default: the policy's
    `[run]` sizes and seed).

    The result depends only on (policy, population, days, seed): not on `threads` or
    `chunk_size`, nor on the backend ('cpu', the default, or 'numpy', the slow reference).
    `ledger`, if given, receives every record, chunk by chunk in subject order, as
    columns. `progress` is called as chunks finish. `dates`: also keep each subject's
    final listing ends and next change (`TypeResult.final`), as the service explains them.

    >>> from socialcredit.scenarios import load_scenario
    >>> r = simulate(load_scenario("reference"), population=2000, days=30, seed=1)
    >>> r.records > 0
    True
    """
    if not isinstance(policy, Policy):
        from socialcredit.scenarios import resolve_policy

        policy, _ = resolve_policy(os.fspath(policy))
    n = policy.run.population if population is None else population
    d = policy.run.days if days is None else days
    seed = policy.run.seed if seed is None else seed
    check_sizes(n, d, seed, threads, chunk_size)
    threads = default_threads(threads)
    check_memory(policy, n, d, threads, chunk_size, ledger is not None)
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
                                    ledger, progress, dates)
            timings[name] = time.perf_counter() - t1
    return RunResult(policy=policy, seed=seed, n_persons=n, days=d, population=pop,
                     types=types, threads=threads, chunk_size=chunk_size,
                     seconds=time.perf_counter() - t0, timings=timings, backend=be.name)


def default_threads(threads: int | None) -> int:
    """The worker threads of a run: as given, else the cores (at most 8)."""
    return threads or min(os.cpu_count() or 1, 8)


def estimate_memory(policy: Policy, population: int, days: int, threads: int,
                    chunk_size: int = DEFAULT_CHUNK, ledger: bool = False) -> int:
    """An upper estimate, in bytes, of the memory a run needs: the society, the final
    states, the metrics' difference arrays (one set per thread), the misattributed
    records in flight and the ledger's buffers."""
    from socialcredit.population._population import n_companies_for

    companies = n_companies_for(policy, population)
    # a thread takes a chunk: there are never more busy threads than chunks
    threads = max(1, min(threads, -(-max(population, companies) // chunk_size)))
    person_traits = len(policy.population.person_traits)
    company_traits = len(policy.population.company_traits)
    total = population * (1 + 1 + 4 + 4 + 4 * person_traits + 8 + 10)
    total += companies * (1 + 1 + 4 * company_traits + 8 + 10)
    for type_name, plan in compile_policy(policy).items():
        n = population if type_name == "person" else companies
        a = plan.arrays
        per_day = (len(plan.segments) * (len(plan.grades) + 2 * len(plan.lists))
                   + 2 * len(plan.kinds) + len(plan.behaviours) * (1 + plan.n_regions)
                   + len(plan.measures) + 2 + 2 * len(plan.services)) * 8 + 4 * plan.n_bins
        total += threads * days * per_day
        recorded = float((a.behaviours.rate * a.channels.det[a.behaviours.chan]).sum()
                         + a.channels.fp_rate.sum())
        misattributed = float((a.behaviours.rate * a.channels.det[a.behaviours.chan]
                               * a.channels.mis[a.behaviours.chan]).sum())
        total += int(misattributed * n * days * 2) * 48  # the outbox, sorted
        if ledger:
            total += int(2 * recorded * days * min(n, chunk_size)) * 48 * 2 * threads
    return int(total)


def available_memory() -> int | None:
    """Bytes of memory available now (Linux: MemAvailable), None if unknown."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_memory(policy: Policy, population: int, days: int, threads: int,
                 chunk_size: int = DEFAULT_CHUNK, ledger: bool = False) -> int:
    """Refuse, with the figures, a run that cannot fit in the memory available."""
    need = estimate_memory(policy, population, days, threads, chunk_size, ledger)
    have = available_memory()
    if have is not None and need > 0.9 * have:
        raise RunConfigError(
            f"this run needs about {need / 2**30:,.1f} GiB of memory and"
            f" {have / 2**30:,.1f} GiB are available: use fewer persons, days or threads")
    return need


def check_sizes(n: int, d: int, seed: int, threads: int | None, chunk: int) -> None:
    """Refuse run arguments out of range (before anything is computed or written)."""
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


def society(plan: TypePlan, pop: Population) -> Society:
    """The subjects of one type as the backends read them."""
    if plan.subject_type == PERSON:
        region, traits, n_children = pop.person_region, pop.person_traits, pop.n_children
        seg = np.where(pop.is_child, -1, 0).astype(np.int8)
    else:
        region, traits = pop.company_region, pop.company_traits
        seg = pop.company_kind
        n_children = np.zeros(pop.n_companies, dtype=np.int32)
    n_reg = plan.n_regions
    sim = seg >= 0
    order = np.argsort(region[sim], kind="stable")
    pool = np.flatnonzero(sim)[order].astype(np.int64)
    pool_off = np.concatenate([[0], np.cumsum(np.bincount(region[sim], minlength=n_reg))])
    return Society(region=region, seg=seg, traits=traits, n_children=n_children, pool=pool,
                   pool_off=pool_off.astype(np.int64))


def _run_type(be: Backend, plan: TypePlan, pop: Population, days: int, seed: int,
              executor: ThreadPoolExecutor, threads: int, chunk_size: int,
              ledger: LedgerSink | None, progress: Progress | None,
              dates: bool) -> TypeResult:
    job = Job(plan, society(plan, pop), seed, days, fifo_capacity=fifo_capacity(plan, days))
    n = job.n
    chunks = [(s, min(s + chunk_size, n)) for s in range(0, n, chunk_size)]
    label = {"person": "persons", "company": "companies"}[plan.type_name]

    incoming = no_incoming()
    if plan.misattributes and n:
        parts = []
        done = 0
        for part, (start, end) in zip(executor.map(lambda c: be.outbox(job, *c), chunks),
                                      chunks, strict=True):
            parts.append(part)
            done += end - start
            if progress:
                progress(f"{label}: misattribution", done, n, 0)
        incoming = _sort_incoming(parts, days)

    sets: queue.SimpleQueue[Accumulators] = queue.SimpleQueue()
    all_sets = [job.accumulators() for _ in range(min(threads, max(len(chunks), 1)))]
    for acc in all_sets:
        sets.put(acc)
    final = final_arrays(n, len(plan.lists), dates)
    no_records = record_out(0)

    def work(bounds: tuple[int, int]) -> tuple[int, dict[str, np.ndarray] | None, int]:
        acc = sets.get()
        try:
            made_before = int(acc.rec.sum()) if progress else 0
            led = be.score(job, *bounds, incoming, acc, slice_final(final, *bounds),
                           ledger is not None, no_records)
            made = int(acc.rec.sum()) - made_before if progress else 0
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
        add_accumulators(acc, other)
    sim = job.society.seg >= 0
    sizes = np.bincount(job.society.seg[sim].astype(np.int64), minlength=len(plan.segments))
    return TypeResult(plan=plan, n_subjects=n, segment_sizes=sizes, acc=acc, final=final,
                      region=job.society.region, n_misattributed=int(incoming.target.shape[0]))


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


def _sort_incoming(parts: list[Sent], days: int) -> Incoming:
    target = np.concatenate([p.target for p in parts])
    day = np.concatenate([p.day for p in parts])
    kind = np.concatenate([p.kind for p in parts])
    src = np.concatenate([p.src for p in parts])
    # parts are in subject order, so a stable sort on (target, day) is independent of
    # how subjects were chunked
    order = np.argsort(target * days + day, kind="stable")
    flags = np.full(order.shape[0], FALSE | MISATTRIBUTED, dtype=np.int64)
    return Incoming(target[order], day[order], kind[order], src[order], flags,
                    np.zeros(order.shape[0], np.uint64))
