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
from socialcredit.population import PERSON, Population, build_block, join_blocks, n_blocks
from socialcredit.population._population import n_companies_for

DEFAULT_CHUNK = 1 << 16

#: progress(pass_name, subjects_done, subjects_total, records_made)
Progress = Callable[[str, int, int, int], None]
LedgerSink = Callable[[str, dict[str, np.ndarray]], None]
#: society(block, its subjects)
SocietySink = Callable[[int, Population], None]
LABEL = {"person": "persons", "company": "companies"}


@dataclass
class TypeResult:
    """What happened to one subject type: daily difference arrays, counts, and (when the
    run keeps its subjects) each subject's final state.

    Everything but `final` is a sum over blocks, so a run cut into any number of shards
    merges into exactly the same totals (`merge_types`)."""

    plan: TypePlan
    n_subjects: int
    segment_sizes: np.ndarray
    acc: Accumulators
    region_sizes: np.ndarray    # int64[r]: simulated subjects per region
    score_sum: int              # sum of the simulated subjects' final scores (exact)
    final: Final | None = None  # per subject; None when the run keeps no subjects
    n_misattributed: int = 0


def merge_types(a: TypeResult, b: TypeResult) -> TypeResult:
    """The totals of two disjoint parts of a society (blocks, shards): integer sums,
    exact whatever the order (no per-subject states: `simulate` joins those once).
    Neither part is changed (a part from Ray is read-only)."""
    acc = Accumulators(*(x + y for x, y in zip(a.acc, b.acc, strict=True)))
    return TypeResult(plan=a.plan, n_subjects=a.n_subjects + b.n_subjects,
                      segment_sizes=a.segment_sizes + b.segment_sizes, acc=acc,
                      region_sizes=a.region_sizes + b.region_sizes,
                      score_sum=a.score_sum + b.score_sum,
                      n_misattributed=a.n_misattributed + b.n_misattributed)


def add_parts(totals: dict[str, TypeResult], parts: dict[str, TypeResult]) -> None:
    """totals += parts, type by type (the first part of a type is taken as it is)."""
    for name, part in parts.items():
        totals[name] = merge_types(totals[name], part) if name in totals else part


def type_sizes(policy: Policy, n: int) -> dict[str, int]:
    """Subjects of each type in a society of n persons."""
    return {"person": n, "company": n_companies_for(policy, n)}


@dataclass(repr=False)
class RunResult:
    """A finished run. `summary()` and `daily_metrics()` (engine/_metrics.py) read it;
    `to_polars()` and `to_arrow()` give its daily metrics as a table, `save(dir)` writes
    it as `simulate` does."""

    policy: Policy
    seed: int
    n_persons: int
    days: int
    population: Population | None
    """the society, subject by subject; None when the run keeps no subjects"""
    types: dict[str, TypeResult]
    threads: int
    chunk_size: int
    seconds: float
    n_children: int
    n_companies: int
    timings: dict[str, float] = field(default_factory=dict)
    backend: str = "cpu"
    blocks: int = 1
    executor: str = "threads"
    workers: int = 1
    ledger_rows: int | None = None
    """records written to the ledger by the run's shards (an executor's run)"""

    @property
    def n_adults(self) -> int:
        return self.n_persons - self.n_children

    @property
    def records(self) -> int:
        return int(sum(t.acc.rec.sum() for t in self.types.values()))

    @property
    def person_days(self) -> int:
        return self.n_persons * self.days

    def __repr__(self) -> str:
        return (f"<RunResult {self.policy.meta.name!r}: {self.n_persons:,} persons,"
                f" {self.n_companies:,} companies, {self.days} days, seed"
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
    society: SocietySink | None = None,
    progress: Progress | None = None,
    backend: str | Backend = "cpu",
    dates: bool = False,
    subjects: bool = True,
    executor: str | None = None,
    workers: int | None = None,
    address: str | None = None,
    shards: int | None = None,
    ledger_dir: str | os.PathLike | None = None,
) -> RunResult:
    """Run `policy` (a Policy, a built-in scenario's name or a policy file) on a
    synthetic society of `population` persons for `days` days (default: the policy's
    `[run]` sizes and seed).

    The society is cut into blocks of `population.block` subjects (a society that size
    or smaller is one block), run one after the other here, each over `threads`
    threads. The result depends only on (policy, population, days, seed): not on
    `threads`, `chunk_size`, the backend ('cpu', the default, or 'numpy', the slow
    reference), nor on where the blocks run.

    `executor` ('local', 'ray' or 'inline') runs the blocks instead as shards on worker
    processes or a Ray cluster (`workers`, `address`; `shards`: how many tasks, default
    one per block); such a run keeps no subjects, and writes its ledger, if asked, to
    `ledger_dir` shard by shard.

    `ledger`, if given, receives every record, chunk by chunk in subject order, as
    columns; `society(block, population)` receives each block's subjects. `progress` is
    called as chunks finish. `dates`: also keep each subject's final listing ends and
    next change (`TypeResult.final`), as the service explains them. `subjects=False`
    keeps no per-subject arrays (`population`, `TypeResult.final`): memory then depends
    on the block size, not on the society.

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
    check_society(policy, n)
    if executor is not None:
        from socialcredit.engine._shards import run_sharded

        if ledger is not None or society is not None or dates:
            raise RunConfigError("a run on an executor writes its ledger to ledger_dir; it"
                                 " takes no ledger callback and keeps no dates")
        return run_sharded(policy, n, d, seed, executor=executor, workers=workers,
                           address=address, shards=shards, chunk_size=chunk_size,
                           backend=backend if isinstance(backend, str) else backend.name,
                           ledger_dir=ledger_dir, progress=progress)
    if ledger_dir is not None:
        raise RunConfigError("ledger_dir is for a run on an executor; here, pass a ledger"
                             " callback (socialcredit.ledger.LedgerWriter)")
    threads = default_threads(threads)
    check_memory(policy, n, d, threads, chunk_size, ledger is not None, subjects)
    be = get_backend(backend) if isinstance(backend, str) else backend
    t0 = time.perf_counter()
    timings: dict[str, float] = {}
    plans = compile_policy(policy)
    blocks = n_blocks(policy, n)
    totals: dict[str, TypeResult] = {}
    kept: list[Population] = []
    finals: dict[str, list[Final]] = {}
    n_children = 0
    counts = BlockProgress(progress)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for k, pop in drawn_blocks(policy, n, seed, 0, blocks, timings):
            parts = run_block(be, plans, policy, n, d, seed, pop, pool, threads, chunk_size,
                              ledger, counts, dates, subjects, timings)
            if society is not None:
                society(k, pop)
            n_children += int(pop.is_child.sum())
            if subjects:
                kept.append(pop)
                for name, part in parts.items():
                    finals.setdefault(name, []).append(part.final)
            add_parts(totals, parts)
    for name, fs in finals.items():  # joined once, not block by block
        totals[name].final = fs[0] if len(fs) == 1 else Final(
            *(np.concatenate(cols) for cols in zip(*fs, strict=True)))
    return RunResult(policy=policy, seed=seed, n_persons=n, days=d,
                     population=join_blocks(kept) if subjects else None, types=totals,
                     threads=threads, chunk_size=chunk_size,
                     seconds=time.perf_counter() - t0, n_children=n_children,
                     n_companies=n_companies_for(policy, n), timings=timings,
                     backend=be.name, blocks=blocks)


class BlockProgress:
    """A run's progress over blocks: each block's (done, made) counts, offset by the
    blocks before it, as one bar per pass over the whole society."""

    def __init__(self, progress: Progress | None) -> None:
        self.progress = progress
        self.done: dict[str, int] = {}
        self.made: dict[str, int] = {}

    def block(self, label: str, total: int) -> Progress | None:
        """The callback for one block's passes (`label` and its misattribution pass), out
        of `total` subjects in all."""
        if self.progress is None:
            return None
        done0, made0 = dict(self.done), dict(self.made)

        def on(lbl: str, done: int, _block_total: int, made: int) -> None:
            self.done[lbl] = done0.get(lbl, 0) + done
            self.made[lbl] = made0.get(lbl, 0) + made
            self.progress(lbl, self.done[lbl], total, self.made[lbl])  # type: ignore[misc]
        return on


def drawn_blocks(policy: Policy, n: int, seed: int, first: int, last: int,
                 timings: dict[str, float]) -> Iterator[tuple[int, Population]]:
    """Blocks first..last-1 of the society, drawn one ahead on a thread of their own:
    the next block's subjects are drawn while this one runs (drawing is mostly one core's
    work, the run uses them all). `timings["population"]` counts only the waits."""
    if first >= last:
        return
    with ThreadPoolExecutor(max_workers=1) as ahead:
        nxt = ahead.submit(build_block, policy, n, seed, first)
        for k in range(first, last):
            t0 = time.perf_counter()
            pop = nxt.result()
            timings["population"] = timings.get("population", 0.0) + time.perf_counter() - t0
            if k + 1 < last:
                nxt = ahead.submit(build_block, policy, n, seed, k + 1)
            yield k, pop
            del pop  # the block's subjects go before the one after next is drawn


def run_block(be: Backend, plans: dict[str, TypePlan], policy: Policy, n: int, days: int,
              seed: int, pop: Population, pool: ThreadPoolExecutor, threads: int,
              chunk_size: int, ledger: LedgerSink | None, counts: BlockProgress | None,
              dates: bool, subjects: bool, timings: dict[str, float]
              ) -> dict[str, TypeResult]:
    """Run each subject type of one block (`pop`): the totals of each type. `timings` is
    added to."""
    totals = type_sizes(policy, n)
    parts: dict[str, TypeResult] = {}
    for name, plan in plans.items():
        t1 = time.perf_counter()
        label = LABEL[name]
        on = counts.block(label, totals[name]) if counts is not None else None
        parts[name] = _run_type(be, plan, pop, days, seed, pool, threads, chunk_size, ledger,
                                on, dates, subjects)
        timings[name] = timings.get(name, 0.0) + time.perf_counter() - t1
    return parts


def default_threads(threads: int | None) -> int:
    """The worker threads of a run: as given, else the cores (at most 8)."""
    return threads or min(os.cpu_count() or 1, 8)


def estimate_memory(policy: Policy, population: int, days: int, threads: int,
                    chunk_size: int = DEFAULT_CHUNK, ledger: bool = False,
                    subjects: bool = True, workers: int = 1) -> int:
    """An upper estimate, in bytes, of the memory a run needs: the block being run (its
    society, final states and misattributed records in flight) in each of `workers`
    processes, the metrics' difference arrays (one set per thread, and the totals), the
    ledger's buffers and, if the run keeps its subjects, the whole society."""
    companies = n_companies_for(policy, population)
    block = policy.population.block
    bp, bc = min(population, block), min(companies, block)
    # a thread takes a chunk: there are never more busy threads than chunks
    threads = max(1, min(threads, -(-max(bp, bc) // chunk_size)))
    person_traits = len(policy.population.person_traits)
    company_traits = len(policy.population.company_traits)
    per_person = 1 + 1 + 4 + 4 + 4 * person_traits + 8 + 10
    per_company = 1 + 1 + 4 * company_traits + 8 + 10
    live = bp * per_person + bc * per_company
    live += bp * (per_person - 18) + bc * (per_company - 18)  # the next block, drawn ahead
    for type_name, plan in compile_policy(policy).items():
        n = bp if type_name == "person" else bc
        a = plan.arrays
        per_day = (len(plan.segments) * (len(plan.grades) + 2 * len(plan.lists))
                   + 2 * len(plan.kinds) + len(plan.behaviours) * (1 + plan.n_regions)
                   + len(plan.measures) + 2 + 2 * len(plan.services)) * 8 + 4 * plan.n_bins
        live += (threads + 2) * days * per_day
        recorded = float((a.behaviours.rate * a.channels.det[a.behaviours.chan]).sum()
                         + a.channels.fp_rate.sum())
        misattributed = float((a.behaviours.rate * a.channels.det[a.behaviours.chan]
                               * a.channels.mis[a.behaviours.chan]).sum())
        live += int(misattributed * n * days * 2) * 48  # the outbox, sorted
        if ledger:
            live += int(2 * recorded * days * min(n, chunk_size)) * 48 * 2 * threads
    total = workers * live
    if subjects:  # every block's subjects and final states, joined at the end (twice)
        many = 2 if max(population, companies) > block else 1
        total += many * (population * (per_person - 8) + companies * (per_company - 8))
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
                 chunk_size: int = DEFAULT_CHUNK, ledger: bool = False,
                 subjects: bool = True, workers: int = 1) -> int:
    """Refuse, with the figures, a run that cannot fit in the memory available."""
    need = estimate_memory(policy, population, days, threads, chunk_size, ledger, subjects,
                           workers)
    have = available_memory()
    if have is not None and need > 0.9 * have:
        raise RunConfigError(
            f"this run needs about {need / 2**30:,.1f} GiB of memory and"
            f" {have / 2**30:,.1f} GiB are available: use fewer persons, days, threads or"
            " workers, or a smaller [population] block (a run that keeps its subjects, as"
            " simulate() does by default, holds the whole society: subjects=False)")
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


MAX_SUBJECTS = 2_000_000_000  # of each type: daily sums stay within int32 and int64
MAX_BLOCKS = 1_000_000


def check_society(policy: Policy, n: int) -> None:
    """Refuse a society out of range: too many companies, or too many blocks."""
    companies = n_companies_for(policy, n)
    if companies > MAX_SUBJECTS:
        raise RunConfigError(
            f"{n:,} persons at {policy.population.companies_per_person:g} companies per"
            f" person are {companies:,} companies; at most {MAX_SUBJECTS:,}")
    blocks = n_blocks(policy, n)
    if blocks > MAX_BLOCKS:
        raise RunConfigError(
            f"{n:,} persons in blocks of {policy.population.block:,} are {blocks:,} blocks;"
            f" at most {MAX_BLOCKS:,}: raise [population] block")


def society(plan: TypePlan, pop: Population) -> Society:
    """The subjects of one type (of a society or a block of it) as the backends read
    them."""
    if plan.subject_type == PERSON:
        region, traits, n_children = pop.person_region, pop.person_traits, pop.n_children
        seg = np.where(pop.is_child, -1, 0).astype(np.int8)
        base = pop.person_base
    else:
        region, traits = pop.company_region, pop.company_traits
        seg = pop.company_kind
        n_children = np.zeros(pop.n_companies, dtype=np.int32)
        base = pop.company_base
    n_reg = plan.n_regions
    sim = seg >= 0
    order = np.argsort(region[sim], kind="stable")
    pool = np.flatnonzero(sim)[order].astype(np.int64)
    pool_off = np.concatenate([[0], np.cumsum(np.bincount(region[sim], minlength=n_reg))])
    return Society(region=region, seg=seg, traits=traits, n_children=n_children, pool=pool,
                   pool_off=pool_off.astype(np.int64), base=int(base))


def _run_type(be: Backend, plan: TypePlan, pop: Population, days: int, seed: int,
              executor: ThreadPoolExecutor, threads: int, chunk_size: int,
              ledger: LedgerSink | None, progress: Progress | None,
              dates: bool, subjects: bool = True) -> TypeResult:
    job = Job(plan, society(plan, pop), seed, days, fifo_capacity=fifo_capacity(plan, days))
    n = job.n
    chunks = [(s, min(s + chunk_size, n)) for s in range(0, n, chunk_size)]
    label = LABEL[plan.type_name]

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
    regions = np.bincount(job.society.region[sim].astype(np.int64), minlength=plan.n_regions)
    return TypeResult(plan=plan, n_subjects=n, segment_sizes=sizes, acc=acc,
                      region_sizes=regions.astype(np.int64),
                      score_sum=int(final.score[sim].sum(dtype=np.int64)),
                      final=final if subjects else None,
                      n_misattributed=int(incoming.target.shape[0]))


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
