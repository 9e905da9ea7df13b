"""Where many independent runs execute: one seam, two executors.

- `LocalExecutor` (the default): a pool of worker processes. Each loads the compiled
  kernel once (its initializer) and then runs many tasks; a task is a plain function
  and a small picklable argument.
- `InlineExecutor`: every task in this process, in turn (debugging, small notebooks).
- `RayExecutor`: the same tasks as Ray tasks on an existing cluster (`address`), or on a
  local Ray instance started for the purpose. Ray keeps its worker processes, so the
  kernel is loaded once per worker there too; a task whose worker dies is retried.

Both yield (task, result) as tasks finish, with at most a few tasks in flight per
worker, so memory stays flat however many tasks there are. A task's result depends on
its argument only, so where it ran does not change it.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol

from socialcredit.errors import RunConfigError

IN_FLIGHT_PER_WORKER = 2


class Executor(Protocol):
    name: str
    workers: int

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]
                      ) -> Iterator[tuple[Any, Any]]: ...

    def close(self) -> None: ...


def _init_worker() -> None:
    """A worker's start: the kernels from the on-disk cache, once per process; the run
    uses one thread (the pool is the parallelism). Ctrl-C is the parent's to handle: a
    worker ignores it (the parent started it with SIGINT blocked, so none arrived
    before this point) and is stopped by the parent."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    from socialcredit.engine._warm import warm

    warm()


def check_workers(workers: int | None) -> int | None:
    if workers is not None and not 1 <= workers <= 1024:
        raise RunConfigError(f"workers must be between 1 and 1024, got {workers}")
    return workers


class InlineExecutor:
    """Runs every task here, one after the other (for debugging and small notebooks:
    no worker processes)."""

    name = "inline"
    workers = 1

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]
                      ) -> Iterator[tuple[Any, Any]]:
        for task in tasks:
            yield task, fn(task)

    def close(self) -> None:
        pass


def _bounded(tasks: Iterable[Any], limit: int, submit: Callable[[Any], Any],
             finished: Callable[[list[Any]], list[tuple[Any, Any]]],
             cancel: Callable[[Any], Any],
             starting: Callable[[], Any] = contextlib.nullcontext,
             ) -> Iterator[tuple[Any, Any]]:
    """(task, result) as tasks finish, with at most `limit` submitted and unfinished:
    the task list is read as it goes, never whole. `submit(task)` returns a handle,
    `finished(handles)` waits for some and returns (handle, result) pairs; what is
    still pending when the consumer stops is cancelled."""
    pending: dict[Any, Any] = {}
    it = iter(tasks)
    try:
        while True:
            with starting():
                while len(pending) < limit:
                    task = next(it, _END)
                    if task is _END:
                        break
                    pending[submit(task)] = task
            if not pending:
                return
            for handle, result in finished(list(pending)):
                yield pending.pop(handle), result
    finally:
        for handle in pending:
            cancel(handle)


class _sigint_blocked:
    """SIGINT held back (not lost) while worker processes are started, so that a Ctrl-C
    reaches the parent, after, and never a worker half way through its start."""

    def __enter__(self) -> None:
        import signal

        self.old = None
        if hasattr(signal, "pthread_sigmask"):
            self.old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})

    def __exit__(self, *exc: object) -> None:
        import signal

        if self.old is not None:
            signal.pthread_sigmask(signal.SIG_SETMASK, self.old)


class LocalExecutor:
    """Worker processes on this machine (spawned: no state copied from the parent)."""

    name = "local"

    def __init__(self, workers: int | None = None) -> None:
        self.workers = check_workers(workers) or os.cpu_count() or 1
        self._pool: ProcessPoolExecutor | None = None

    def _started(self) -> ProcessPoolExecutor:
        if self._pool is None:
            import multiprocessing

            self._pool = ProcessPoolExecutor(
                self.workers, mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker)
        return self._pool

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]
                      ) -> Iterator[tuple[Any, Any]]:
        pool = self._started()

        def finished(futures: list[Future]) -> list[tuple[Future, Any]]:
            from concurrent.futures.process import BrokenProcessPool

            done, _ = wait(futures, return_when=FIRST_COMPLETED)
            try:
                return [(f, f.result()) for f in done]
            except BrokenProcessPool:
                raise RunConfigError(
                    "a worker process stopped while it ran (killed, out of memory, or it"
                    " could not start: a script that runs a sweep or a sharded run needs it"
                    " under `if __name__ == \"__main__\":`, as worker processes import the"
                    " script)"
                    ) from None

        # workers start at the first submissions, with SIGINT blocked: they inherit it
        finished_all = False
        try:
            yield from _bounded(tasks, self.workers * IN_FLIGHT_PER_WORKER,
                                lambda task: pool.submit(fn, task), finished,
                                lambda f: f.cancel(), _sigint_blocked)
            finished_all = True
        finally:
            if not finished_all:  # Ctrl-C, an error, or the caller stopped: stop now
                self.terminate()

    def terminate(self) -> None:
        """Stop the workers at once, tasks running or not (a stopped run's work is not
        wanted); the next map starts new ones."""
        pool, self._pool = self._pool, None
        if pool is None:
            return
        procs = list((getattr(pool, "_processes", None) or {}).values())
        try:
            for p in procs:
                p.terminate()  # workers ignore SIGINT; SIGTERM stops them mid-task
            pool.shutdown(wait=False, cancel_futures=True)
        finally:
            for p in procs:
                p.join(timeout=5)
                if p.is_alive():
                    p.kill()
                    p.join(timeout=5)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


class RayExecutor:
    """Ray tasks: on the cluster at `address` ("auto" finds a running one; None starts
    a local instance with `workers` CPUs). One CPU per task."""

    name = "ray"

    def __init__(self, workers: int | None = None, address: str | None = None) -> None:
        check_workers(workers)
        try:
            import ray
        except ImportError:  # pragma: no cover - ray is a dependency
            raise RunConfigError("the Ray executor needs the ray package") from None
        self._ray = ray
        self._started_here = False
        if not ray.is_initialized():
            if address not in (None, "auto", "local"):
                _reachable(address)
            kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": False,
                                      "configure_logging": False}
            if address is None:
                kwargs["num_cpus"] = workers or os.cpu_count() or 1
            try:
                ray.init(address=address, **kwargs)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                raise RunConfigError(f"cannot reach a Ray cluster at {address!r}: {exc}"
                                     ) from None
            self._started_here = True
        self.workers = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._remote: Any = None

    def map_unordered(self, fn: Callable[[Any], Any], tasks: Iterable[Any]
                      ) -> Iterator[tuple[Any, Any]]:
        ray = self._ray
        if self._remote is None:
            self._remote = ray.remote(num_cpus=1, max_retries=3, retry_exceptions=False)(
                _on_ray_worker)
        remote = self._remote

        def finished(refs: list[Any]) -> list[tuple[Any, Any]]:
            done, _ = ray.wait(refs, num_returns=1)
            return [(r, ray.get(r)) for r in done]

        yield from _bounded(tasks, self.workers * IN_FLIGHT_PER_WORKER,
                            lambda task: remote.remote(fn, task), finished, ray.cancel)

    def close(self) -> None:
        if self._started_here and self._ray.is_initialized():
            self._ray.shutdown()


def _reachable(address: str, timeout: float = 5.0) -> None:
    """Refuse at once an address where nothing listens (Ray itself retries for
    minutes): HOST:PORT or ray://HOST:PORT."""
    import socket

    hostport = address.removeprefix("ray://").rstrip("/")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise RunConfigError(f"--address {address!r}: expected HOST:PORT, ray://HOST:PORT"
                             " or auto")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise RunConfigError(f"cannot reach a Ray cluster at {address!r} ({exc}); start one"
                             " with `ray start --head`, or leave out --address for a local"
                             " instance") from None


def _on_ray_worker(fn: Callable[[Any], Any], task: Any) -> Any:
    """`fn(task)` in a Ray worker, with the kernels loaded once per worker process."""
    global _RAY_READY
    if not _RAY_READY:
        _init_worker()
        _RAY_READY = True
    return fn(task)


_RAY_READY = False
_END = object()


def get_executor(name: str, workers: int | None = None,
                 address: str | None = None) -> Executor:
    """'local' or 'ray'; `address` only for ray."""
    if name == "inline":
        if address is not None:
            raise RunConfigError("--address is for --executor ray")
        return InlineExecutor()
    if name == "local":
        if address is not None:
            raise RunConfigError("--address is for --executor ray")
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(workers, address)
    raise RunConfigError(f"unknown executor {name!r}; choose local, ray or inline")
