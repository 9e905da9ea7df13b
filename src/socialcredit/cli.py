"""The command line: a thin adapter over the library.

Errors the user can fix end with exit status 2 and one clear message, never a traceback.
"""

from __future__ import annotations

import json
import sys
import time
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

from socialcredit import __version__
from socialcredit.errors import RunConfigError, SocialCreditError

app = typer.Typer(
    name="socialcredit",
    help="Policy as code and a fast simulator of social credit systems, on synthetic people.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts are plain: "[run] seed" stays as written
)
# soft_wrap: lines are not cut at 80 columns when the output is piped; markup is off
# wherever a message may hold user text (brackets in it are not Rich tags)
err = Console(stderr=True, soft_wrap=True, highlight=False)
out = Console(soft_wrap=True, highlight=False)


def _fail(exc: Exception) -> typer.Exit:
    err.print(Text.assemble(("error:", "bold red"), " ", str(exc)))
    return typer.Exit(2)


def _version(value: bool) -> None:
    if value:
        sys.stdout.write(f"socialcredit {__version__}\n")
        raise typer.Exit()


@app.callback()
def _main(version: Annotated[bool, typer.Option(
        "--version", callback=_version, is_eager=True,
        help="Print the version and exit.")] = False) -> None:
    """Policy as code and a fast simulator of social credit systems, on synthetic people."""


@app.command()
def scenarios() -> None:
    """List the built-in scenarios."""
    from socialcredit.scenarios import list_scenarios, load_scenario

    table = Table("name", "title")
    for name in list_scenarios():
        table.add_row(name, load_scenario(name).meta.title)
    out.print(table)


def _resolve(file: str):  # noqa: ANN202 - (Policy, Path), imported lazily
    from socialcredit.scenarios import resolve_policy

    try:
        return resolve_policy(file)
    except SocialCreditError as exc:
        raise _fail(exc) from None


@app.command()
def validate(file: Annotated[str, typer.Argument(
        metavar="FILE", help="A policy file or scenario name.")]) -> None:
    """Check a policy file; exit 2 with every problem listed if it is not valid."""
    policy, path = _resolve(file)
    from socialcredit.policy._explain import _n

    counts = (f"{_n(len(policy.behaviours), 'behaviour')}, {_n(len(policy.lists), 'list')},"
              f" {_n(len(policy.measures), 'measure')}")
    out.print(f"{path}: valid policy {policy.meta.name!r} ({counts})", markup=False)


@app.command()
def explain(file: Annotated[str, typer.Argument(
        metavar="FILE", help="A policy file or scenario name.")]) -> None:
    """Print a policy in plain words."""
    from socialcredit.policy._explain import explain as explain_policy

    policy, _ = _resolve(file)
    sys.stdout.write(explain_policy(policy))


@app.command()
def schema() -> None:
    """Print the JSON Schema of the policy format (for editors)."""
    from socialcredit.policy._schema import json_schema

    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")


@app.command()
def simulate(
    policy_name: Annotated[str, typer.Argument(metavar="SCENARIO|FILE",
                                               help="A built-in scenario or a policy file.")],
    population: Annotated[int | None, typer.Option("--population", "-n",
                                                   help="Persons (default: the policy's).")] = None,
    days: Annotated[int | None, typer.Option("--days", "-d",
                                             help="Days (default: the policy's).")] = None,
    seed: Annotated[int | None, typer.Option(
        "--seed", "-s", help="The run's seed (default: the policy's [run] seed).")] = None,
    out_name: Annotated[str, typer.Option("--out", "-o", help="Run directory to write.")] = (
        "runs/latest"),
    ledger: Annotated[bool, typer.Option(
        "--ledger", help="Also write every record (ledger/, a Parquet dataset of a part per"
                         " block) and the society (subjects/), for `ingest`.")] = False,
    threads: Annotated[int | None, typer.Option(help="Worker threads (default: cores).")] = None,
    chunk_size: Annotated[int, typer.Option(help="Subjects per chunk.")] = 1 << 16,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    report: Annotated[bool, typer.Option("--report", help="Also write report.html.")] = False,
    backend: Annotated[str, typer.Option(
        help="cpu (the Numba kernel) or numpy (the slow reference: the same results,"
             " written to be read).")] = "cpu",
    overrides: Annotated[list[str] | None, typer.Option(
        "--set", metavar="PATH=VALUE",
        help="Change one value of the policy (repeatable): channels.camera.misattribution"
             "=0.05, lists.blacklist.score_below=700, regions.city-3.coverage.camera=0.9."
             " The changed policy is validated like a file and recorded in run.json.")
    ] = None,
    seeds: Annotated[int | None, typer.Option(
        "--seeds", help="Run K seeds (the seed, seed + 1, ...) and write each run plus a"
                        " summary with mean, sd and 95 % interval of every statistic.")
    ] = None,
    seed_list: Annotated[str | None, typer.Option(
        "--seed-list", help="Run these seeds (1,5,9), as --seeds does.")] = None,
    executor: Annotated[str | None, typer.Option(
        help="Run the society's blocks as shards on worker processes (local), a Ray"
             " cluster (ray) or one after the other here (inline); default: here, over"
             " threads. The results are the same, bit for bit.")] = None,
    workers: Annotated[int | None, typer.Option(
        help="Worker processes (local) or CPUs of a local Ray instance (default: cores).")
    ] = None,
    address: Annotated[str | None, typer.Option(
        help="--executor ray: the cluster (HOST:PORT, ray://HOST:PORT or auto); default: a"
             " local instance.")] = None,
    shards: Annotated[int | None, typer.Option(
        help="--executor: tasks to cut the blocks into (default: one per block).")] = None,
) -> None:
    """Run a policy on a synthetic society and write the run directory (replacing an
    earlier run there, whole; a directory that is not a run directory is refused).

    The society is cut into blocks of [population] block subjects (4,194,304 by
    default), run one after the other: memory depends on the block, not the society."""
    from socialcredit.engine import compile_policy, get_backend
    from socialcredit.engine import simulate as run_sim
    from socialcredit.engine._output import RunDir, write_run
    from socialcredit.engine._run import (
        check_memory,
        check_sizes,
        check_society,
        default_threads,
    )
    from socialcredit.ledger import LedgerWriter

    try:
        # every argument is checked before anything is computed or written
        policy, path, changes = _policy_with(policy_name, overrides)
        n = policy.run.population if population is None else population
        d = policy.run.days if days is None else days
        check_sizes(n, d, policy.run.seed if seed is None else seed, threads, chunk_size)
        check_society(policy, n)
        get_backend(backend)
        run_dir = RunDir(out_name)
        out_dir = run_dir.out
        if executor is None:
            for name, value in (("--workers", workers), ("--address", address),
                                ("--shards", shards)):
                if value is not None:
                    raise RunConfigError(f"{name} is for a run on an executor (--executor)")
            try:
                check_memory(policy, n, d, default_threads(threads), chunk_size, ledger, False)
            except RunConfigError:
                raise RunConfigError(
                    f"{_memory_text(policy, n, d, threads, chunk_size, ledger)}: use fewer"
                    " days or threads, or a smaller [population] block (--set"
                    " population.block=N)") from None
        elif threads is not None:
            raise RunConfigError("--threads is for a run here: on an executor each worker"
                                 " runs one thread (--workers sets how many workers)")
        elif executor == "inline" and workers is not None:
            raise RunConfigError("--workers is for --executor local or ray")
        elif seeds is not None or seed_list is not None:
            raise RunConfigError("--executor runs one seed's shards: give it without --seeds"
                                 " or --seed-list")
        for r in policy.regions:
            if r.joins_day >= d:
                err.print(f"warning: region {r.name!r} joins on day {r.joins_day}, after the"
                          f" run's last day ({d - 1}): nobody is recorded there",
                          markup=False)
        if seeds is not None or seed_list is not None:
            if ledger:
                raise RunConfigError("--ledger writes one run's records: give it without"
                                     " --seeds or --seed-list")
            from socialcredit.experiments._replicates import seed_list as resolve_seeds

            chosen = resolve_seeds(policy.run.seed if seed is None else seed, seeds, seed_list)
            _warm_up(quiet)
            return _replicates(policy, path, changes, n, d, chosen, run_dir, threads,
                               chunk_size, backend, quiet, report)
        _warm_up(quiet)
        with run_dir as staging:
            writer = LedgerWriter(staging, compile_policy(policy), policy) \
                if ledger and executor is None else None
            try:
                with _progress(quiet, d) as on_progress:
                    if executor is None:
                        run = run_sim(policy, n, d, seed, threads=threads,
                                      chunk_size=chunk_size, ledger=writer,
                                      society=writer.society if writer else None,
                                      progress=on_progress, backend=backend, subjects=False)
                    else:
                        run = run_sim(policy, n, d, seed, chunk_size=chunk_size,
                                      progress=on_progress, backend=backend,
                                      executor=executor, workers=workers, address=address,
                                      shards=shards, ledger_dir=staging if ledger else None)
            finally:
                if writer is not None:
                    writer.close()
            rows = writer.rows if writer else run.ledger_rows
            files = write_run(run, staging, path.read_text(encoding="utf-8"), rows,
                              overrides=changes)
            if report:
                from socialcredit.report import write_report

                files.append(write_report(staging, shown_as=out_dir).name)
            run_dir.commit()
    except SocialCreditError as exc:
        raise _fail(exc) from None
    rate = run.person_days / run.seconds / 1e6 if run.seconds else 0.0
    out.print(f"done {policy.meta.name}: {run.n_persons:,} persons x {run.days} days"
              f" in {run.seconds:.1f} s ({rate:,.1f} M person-days/s, {run.records:,} records)",
              markup=False)
    out.print(f"results in {out_dir}: " + ", ".join(sorted(files)), markup=False)
    if report:
        out.print(f"report: {out_dir / 'report.html'}", markup=False)


def _memory_text(policy, n: int, d: int, threads: int | None, chunk: int,  # noqa: ANN001
                 ledger: bool) -> str:
    from socialcredit.engine._run import available_memory, default_threads, estimate_memory

    need = estimate_memory(policy, n, d, default_threads(threads), chunk, ledger, False)
    have = available_memory() or 0
    return (f"this run needs about {need / 2**30:,.1f} GiB of memory and"
            f" {have / 2**30:,.1f} GiB are available")


def _policy_with(name: str, assignments: list[str] | None):  # noqa: ANN202
    """(policy, its file, the overrides) for a scenario or file and `--set` values."""
    from socialcredit.policy._overrides import parse_assignments
    from socialcredit.scenarios import resolve_policy

    policy, path = resolve_policy(name)
    if not assignments:
        return policy, path, {}
    changes = parse_assignments(assignments)
    return policy.with_overrides(changes), path, changes


def _replicates(policy, path: Path, changes: dict, n: int, d: int,  # noqa: ANN001, PLR0913
                seeds: list[int], run_dir, threads: int | None, chunk_size: int,  # noqa: ANN001
                backend: str, quiet: bool, report: bool) -> None:
    from socialcredit.experiments._replicates import run_replicates

    bar = Progress(TextColumn("{task.description}"), BarColumn(), TextColumn(
        "{task.completed}/{task.total} seeds"), TimeElapsedColumn(), console=err,
        disable=quiet or not err.is_terminal)
    with bar:
        task = bar.add_task(f"{policy.meta.name}", total=len(seeds))
        files = run_replicates(policy, n, d, seeds, run_dir.out,
                               policy_text=path.read_text(encoding="utf-8"),
                               overrides=changes, threads=threads, chunk_size=chunk_size,
                               backend=backend,
                               progress=lambda done, total: bar.update(task, completed=done))
    if report:
        from socialcredit.report import write_report

        write_report(run_dir.out)
        files.append("report.html")
    out.print(f"done {policy.meta.name}: {len(seeds)} seed{'s' if len(seeds) > 1 else ''} x"
              f" {n:,} persons x {d} days",
              markup=False)
    out.print(f"results in {run_dir.out}: " + ", ".join(sorted(set(files))), markup=False)


def _warm_up(quiet: bool) -> None:
    """Compile the kernels (the first time; later, load them from the cache), saying so,
    so that the run's own time (and throughput) counts the run alone."""
    from socialcredit.engine._warm import warm

    if quiet:
        warm()
        return
    with err.status("preparing the simulator (the first time it compiles, about half a"
                    " minute; later runs load it from the cache)"):
        took = warm()
    if took > 3:
        err.print(f"compiled the simulator in {took:.0f} s (cached for later runs)",
                  markup=False)


@app.command(name="report")
def report_cmd(
    run_dir: Annotated[Path, typer.Argument(metavar="RUN_DIR",
                                            help="A run directory written by simulate.")],
) -> None:
    """Write RUN_DIR/report.html: one file, opens offline, charts of what the system did."""
    from socialcredit.report import write_report

    try:
        path = write_report(run_dir)
    except SocialCreditError as exc:
        raise _fail(exc) from None
    out.print(f"report: {path}", markup=False)


@app.command()
def compare(
    run_dirs: Annotated[list[Path], typer.Argument(metavar="RUN_A RUN_B [...]",
                                                   help="Run directories or replicate sets.")],
    out_file: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.")] = Path(
        "compare.html"),
) -> None:
    """Compare runs or replicate sets (simulate --seeds) side by side: the same charts
    overlaid and the key statistics with their differences and 95 % intervals (paired
    over shared seeds, Welch's for different seeds). Runs must have the same persons,
    days, population section and region weights."""
    from socialcredit.report import write_comparison

    try:
        path = write_comparison(list(run_dirs), out_file)
    except SocialCreditError as exc:
        raise _fail(exc) from None
    out.print(f"comparison: {path}", markup=False)


class _progress:
    """A Rich progress bar per pass, in subject-days (person-days or company-days: the
    engine runs subject by subject over all days, so a finished chunk is chunk size x
    days), and records per second."""

    def __init__(self, quiet: bool, days: int) -> None:
        self.quiet = quiet
        self.days = days
        self.bar = Progress(
            TextColumn("{task.description}"), BarColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} {task.fields[unit]}"),
            TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
            # piped (not a terminal): no bar, whose lines would be cut at 80 columns
            console=err, transient=False, disable=quiet or not err.is_terminal,
        )
        self.tasks: dict[str, int] = {}
        self.t0 = time.perf_counter()

    def __enter__(self) -> _progress:
        self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.__exit__(*exc)  # type: ignore[arg-type]

    def __call__(self, label: str, done: int, total: int, records: int) -> None:
        if label not in self.tasks:
            unit = "company-days" if label.startswith("companies") else "person-days"
            self.tasks[label] = self.bar.add_task(label, total=total * self.days, rate="",
                                                  unit=unit)
        # records over the time since the run began: blocks interleave the passes (a
        # block's persons, then its companies), so no pass has a time of its own
        elapsed = max(time.perf_counter() - self.t0, 1e-9)
        rate = f"{records / elapsed / 1e6:,.1f} M records/s" if records else ""
        self.bar.update(self.tasks[label], completed=done * self.days, rate=rate)


db_app = typer.Typer(help="The service's database.", no_args_is_help=True)
tokens_app = typer.Typer(help="Bearer tokens for the service.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(tokens_app, name="tokens")
DbOpt = Annotated[str, typer.Option("--db", help="Database URL (sqlite:///FILE or"
                                                  " postgresql://...).")]


@db_app.command("upgrade")
def db_upgrade(db: DbOpt = "sqlite:///socialcredit.db") -> None:
    """Create or migrate the database schema (Alembic)."""
    from socialcredit.service import upgrade

    try:
        upgrade(db)
    except SocialCreditError as exc:
        raise _fail(exc) from None
    out.print(f"database at {db} is up to date", markup=False)


@tokens_app.command("create")
def tokens_create(
    role: Annotated[str, typer.Option(help="recorder|gatekeeper|subject|reviewer|auditor|"
                                           "admin")],
    service: Annotated[str | None, typer.Option(help="For a gatekeeper: its service (one of"
                                                     " the policy's).")] = None,
    subject: Annotated[str | None, typer.Option(help="For a subject: their id.")] = None,
    label: Annotated[str | None, typer.Option(help="Whose token, in words (shown in"
                                                   " `tokens list`).")] = None,
    expires: Annotated[str | None, typer.Option(
        help="Expiry: a date (YYYY-MM-DD, midnight UTC) or an ISO 8601 time with offset.")
    ] = None,
    policy_name: Annotated[str, typer.Option("--policy", help="The policy served (its"
                                                              " services).")] = "seed",
    db: DbOpt = "sqlite:///socialcredit.db",
) -> None:
    """Print a new bearer token (stored hashed; it cannot be shown again). Its creation
    is audited."""
    from socialcredit.service import create_token, make_engine, upgrade
    from socialcredit.service._rules import Rules

    policy, _ = _resolve(policy_name)
    try:
        at = _expiry(expires) if expires else None
        upgrade(db)
        rules = Rules(policy)
        token = create_token(make_engine(db), role, service, subject, label, at,
                             services=rules.services, policy_version=rules.version)
    except SocialCreditError as exc:
        raise _fail(exc) from None
    sys.stdout.write(token + "\n")


def _expiry(text: str) -> datetime:
    from datetime import UTC

    try:
        if len(text) == 10:
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), UTC)
        at = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise SocialCreditError(f"--expires {text!r}: not a date (YYYY-MM-DD) or an ISO 8601"
                                " time") from None
    if at.tzinfo is None:
        raise SocialCreditError(f"--expires {text!r}: give the time's offset (e.g. +08:00"
                                " or Z)")
    return at


@tokens_app.command("list")
def tokens_list(db: DbOpt = "sqlite:///socialcredit.db",
                as_json: Annotated[bool, typer.Option("--json", help="As JSON.")] = False,
                ) -> None:
    """Every token (never its secret): id, role, service, subject, label, dates."""

    from socialcredit.service import make_engine, upgrade
    from socialcredit.service._tokens import list_tokens

    try:
        upgrade(db)
        items = list_tokens(make_engine(db))
    except SocialCreditError as exc:
        raise _fail(exc) from None
    if as_json:
        sys.stdout.write(json.dumps(items, indent=1) + "\n")
        return
    table = Table("id", "role", "service", "subject", "label", "created", "expires", "revoked")
    for t in items:
        table.add_row(*(str(t[k] or "")[:16] for k in ("id", "role", "service", "subject", "label",
                                                  "created_at", "expires_at", "revoked_at")))
    out.print(table)


@tokens_app.command("revoke")
def tokens_revoke(token_id: Annotated[int, typer.Argument(metavar="ID", min=1)],
                  db: DbOpt = "sqlite:///socialcredit.db") -> None:
    """Revoke a token: every running service refuses it from its next request on."""
    from socialcredit.service import make_engine, upgrade
    from socialcredit.service._tokens import revoke_token

    try:
        upgrade(db)
        done = revoke_token(make_engine(db), token_id)
    except SocialCreditError as exc:
        raise _fail(exc) from None
    if not done:
        raise _fail(SocialCreditError(f"no live token {token_id}"))
    out.print(f"token {token_id} revoked", markup=False)


@db_app.command("verify-audit")
def db_verify_audit(db: DbOpt = "sqlite:///socialcredit.db") -> None:
    """Seal the audit log's new rows into its hash chain, then verify the whole chain
    (exit 1 if a sealed row was changed, removed or reordered)."""
    from socialcredit.service import make_engine, upgrade
    from socialcredit.service._audit import head, seal, verify

    try:
        upgrade(db)
        engine = make_engine(db)
        with engine.begin() as conn:
            while seal(conn):
                pass
        with engine.connect() as conn:
            count, problem = verify(conn)
            top = head(conn)
    except SocialCreditError as exc:
        raise _fail(exc) from None
    if problem:
        raise _fail(SocialCreditError(f"the audit chain breaks after {count:,} rows: {problem}"))
    out.print(f"audit log: {count:,} rows verified; head: {top['length']} {top['hash']}"
              " (keep it elsewhere: a later head must extend it)", markup=False)


@app.command()
def serve(
    policy_name: Annotated[str, typer.Option("--policy", help="Scenario or policy file.")] = (
        "seed"),
    db: DbOpt = "sqlite:///socialcredit.db",
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port.")] = 8000,
    today: Annotated[str | None, typer.Option(
        help="Evaluate the rules as of this date (YYYY-MM-DD), e.g. to replay a"
             " simulated ledger; default: the current date.")] = None,
    workers: Annotated[int, typer.Option(min=1, max=64,
                                         help="Server processes (one per core).")] = 1,
) -> None:
    """Run the HTTP service (JSON API under /v1, OpenAPI at /openapi.json)."""
    import os

    import uvicorn

    from socialcredit.service import upgrade

    policy, path = _resolve(policy_name)
    try:
        if today:
            _date(today)
        upgrade(db)
    except SocialCreditError as exc:
        raise _fail(exc) from None
    # the processes build the app from these (uvicorn starts workers from an import path)
    os.environ.update({"SOCIALCREDIT_POLICY": str(path), "SOCIALCREDIT_DB": db,
                       "SOCIALCREDIT_TODAY": today or ""})
    out.print(f"serving policy {policy.meta.name!r} on http://{host}:{port} (database {db},"
              f" {workers} worker{'s' if workers > 1 else ''})", markup=False)
    uvicorn.run("socialcredit.service._app:app_from_env", factory=True, host=host, port=port,
                workers=workers, log_level="warning")


@app.command()
def ingest(
    ledger: Annotated[Path, typer.Argument(metavar="LEDGER",
                                           help="RUN/ledger from simulate --ledger")],
    policy_name: Annotated[str, typer.Option("--policy", help="The run's policy.")] = "seed",
    db: DbOpt = "sqlite:///socialcredit.db",
    start: Annotated[str, typer.Option(help="The date of the run's day 0.")] = "2026-01-01",
) -> None:
    """Load a simulated run into the database (idempotent): its subjects (from
    subjects/ beside the ledger, if there) and every record."""
    from socialcredit.service import ingest_ledger, upgrade
    from socialcredit.service._ingest import check_ledger, run_seed
    from socialcredit.service._rules import Rules

    policy, _ = _resolve(policy_name)
    try:
        day0 = _date(start)
        check_ledger(ledger)  # before the database is made
        upgrade(db)
        n = ingest_ledger(ledger, db, Rules(policy), day0)
    except SocialCreditError as exc:
        raise _fail(exc) from None
    out.print(f"ingested {n:,} records into {db}", markup=False)
    seed = run_seed(ledger)
    if seed is not None and seed != policy.run.seed:
        err.print(f"warning: the run's seed is {seed} and the policy's [run] seed is"
                  f" {policy.run.seed}: the service draws credit repair from the policy's"
                  " seed, so repairs will differ from the run's", highlight=False,
                  markup=False)


def _date(text: str):  # noqa: ANN202
    from datetime import date

    try:
        return date.fromisoformat(text)
    except ValueError:
        raise SocialCreditError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def _experiments() -> None:
    from socialcredit.experiments._cli import register

    register(app)
    from socialcredit.experiments._cli_fit import register_fit

    register_fit(app)


_experiments()
__import__("socialcredit.audit._cli", fromlist=["register"]).register(app)


def _interrupt_once(signum: int, frame: object) -> None:
    """Ctrl-C: stop in order (workers stopped, staging removed, exit 130); a second Ctrl-C
    while that happens is ignored rather than cutting the clean-up short."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def main() -> None:
    """Entry point: run the app; user errors exit 2 without a traceback."""
    import signal

    signal.signal(signal.SIGINT, _interrupt_once)
    try:
        app()
    except SocialCreditError as exc:  # raised outside a command's own handler
        err.print(f"error: {exc}", highlight=False, markup=False)
        raise SystemExit(2) from None


if __name__ == "__main__":
    main()
