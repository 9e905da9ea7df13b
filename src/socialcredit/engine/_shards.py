"""A run as shards on an executor: worker processes here, or a Ray cluster.

A society is cut into blocks (`population.block` subjects of each type); a shard is a
run of consecutive blocks, a task an executor runs anywhere (`experiments._executor`).
A shard draws its blocks' subjects from streams keyed by global ids, runs them one
after the other on one thread, and sends back only totals: daily difference arrays,
counts and sums, all integers. The parent adds them up, so the result is the same, bit
for bit, for any number of shards, any workers and any executor, and the same as an
in-process run. A shard's memory is one block's, whatever the society.

If the run writes its ledger, each shard writes its blocks' part files
(`ledger/part-<block>-<type>.parquet`, `subjects/part-<block>.parquet`) to the run's
directory, which every worker must see (a shared file system on a cluster).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from socialcredit.engine._run import (
    DEFAULT_CHUNK,
    LABEL,
    MAX_BLOCKS,
    Progress,
    RunResult,
    TypeResult,
    add_parts,
    check_memory,
    drawn_blocks,
    run_block,
    type_sizes,
)
from socialcredit.errors import RunConfigError
from socialcredit.policy import Policy
from socialcredit.population import n_blocks


@dataclass(frozen=True)
class ShardTask:
    """Blocks `first`..`last - 1` of one run (everything a worker needs)."""

    policy: Policy
    population: int
    days: int
    seed: int
    first: int
    last: int
    chunk_size: int = DEFAULT_CHUNK
    backend: str = "cpu"
    ledger_dir: str | None = None


@dataclass
class ShardResult:
    """A shard's totals: per type, and the society's counts."""

    first: int
    last: int
    types: dict[str, TypeResult]
    n_children: int
    ledger_rows: int = 0
    timings: dict[str, float] = field(default_factory=dict)


def run_shard(task: ShardTask) -> ShardResult:
    """Run one shard (in a worker): its blocks in turn, on one thread, keeping no
    subjects; the ledger's and the society's part files, if asked for."""
    from socialcredit.engine._backend import get_backend
    from socialcredit.engine._plan import compile_policy

    plans = compile_policy(task.policy)
    be = get_backend(task.backend)
    totals: dict[str, TypeResult] = {}
    timings: dict[str, float] = {}
    children = 0
    rows = 0
    with ThreadPoolExecutor(max_workers=1) as pool:
        for k, pop in drawn_blocks(task.policy, task.population, task.seed, task.first,
                                   task.last, timings):
            writer = None
            if task.ledger_dir is not None:
                from socialcredit.ledger import LedgerWriter

                writer = LedgerWriter(Path(task.ledger_dir), plans, task.policy)
            try:
                parts = run_block(be, plans, task.policy, task.population, task.days,
                                  task.seed, pop, pool, 1, task.chunk_size, writer, None,
                                  False, False, timings)
                if writer is not None:
                    writer.society(k, pop)
            finally:
                if writer is not None:
                    writer.close()
                    rows += writer.rows
            children += int(pop.is_child.sum())
            add_parts(totals, parts)
    return ShardResult(task.first, task.last, totals, children, rows, timings)


def shard_bounds(blocks: int, shards: int | None) -> list[tuple[int, int]]:
    """`blocks` cut into `shards` runs of consecutive blocks, as even as can be (default:
    one block a shard)."""
    if shards is not None and not 1 <= shards <= MAX_BLOCKS:
        raise RunConfigError(f"shards must be between 1 and {MAX_BLOCKS:,}, got {shards}")
    k = min(shards or blocks, blocks)
    return [(i * blocks // k, (i + 1) * blocks // k) for i in range(k)]


def run_sharded(policy: Policy, n: int, days: int, seed: int, *, executor: str | Any,
                workers: int | None = None, address: str | None = None,
                shards: int | None = None, chunk_size: int = DEFAULT_CHUNK,
                backend: str = "cpu", ledger_dir: str | os.PathLike | None = None,
                progress: Progress | None = None,
                shard_fn: Callable[[ShardTask], ShardResult] = run_shard) -> RunResult:
    """Run `policy` as shards on `executor` ('local', 'ray', 'inline' or an Executor);
    see the module docstring. `progress(label, done, total, records)` as shards finish."""
    from socialcredit.engine._backend import get_backend
    from socialcredit.experiments._executor import get_executor

    get_backend(backend)
    blocks = n_blocks(policy, n)
    bounds = shard_bounds(blocks, shards)
    ex = get_executor(executor, workers, address) if isinstance(executor, str) else executor
    try:
        workers = min(ex.workers, len(bounds))
        if ex.name == "local" or (ex.name == "ray" and address is None):
            # the workers share this machine's memory
            check_memory(policy, n, days, 1, chunk_size, ledger_dir is not None, False,
                         workers)
        out = None
        if ledger_dir is not None:  # absolute: workers elsewhere start in other directories
            out = os.fspath(Path(ledger_dir).resolve())
            for sub in ("ledger", "subjects"):
                (Path(out) / sub).mkdir(parents=True, exist_ok=True)
        tasks = (ShardTask(policy, n, days, seed, a, b, chunk_size, backend, out)
                 for a, b in bounds)
        t0 = time.perf_counter()
        totals: dict[str, TypeResult] = {}
        timings: dict[str, float] = {}
        children = 0
        rows = 0
        sizes = type_sizes(policy, n)
        done = dict.fromkeys(sizes, 0)
        for _, res in ex.map_unordered(shard_fn, tasks):
            children += res.n_children
            rows += res.ledger_rows
            for key, v in res.timings.items():
                timings[key] = timings.get(key, 0.0) + v
            add_parts(totals, res.types)
            for name, part in res.types.items():
                done[name] += part.n_subjects
                if progress is not None:
                    progress(LABEL[name], done[name], sizes[name],
                             int(totals[name].acc.rec.sum()))
        return RunResult(policy=policy, seed=seed, n_persons=n, days=days, population=None,
                         types=totals, threads=1, chunk_size=chunk_size,
                         seconds=time.perf_counter() - t0, n_children=children,
                         n_companies=sizes["company"], timings=timings, backend=backend,
                         blocks=blocks, executor=ex.name, workers=workers,
                         ledger_rows=rows if ledger_dir is not None else None)
    finally:
        if isinstance(executor, str):
            ex.close()
