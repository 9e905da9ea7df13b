"""The `audit` command, registered on the main app by socialcredit.cli."""

from __future__ import annotations

import json
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    from socialcredit.cli import _fail, _resolve, out
    from socialcredit.errors import SocialCreditError

    @app.command()
    def audit(
        file: Annotated[str | None, typer.Argument(
            metavar="[SCENARIO|FILE]",
            help="A built-in scenario or a policy file (with --run: optional, the run's"
                 " policy by default).")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the whole audit as"
                                              " JSON.")] = False,
        explain: Annotated[str | None, typer.Option(
            "--explain", metavar="FINDING",
            help="Print a finding's path in plain words: its id, a grouped id as the"
                 " terminal prints it (cross_context/jobs_closed/*), or a type, measure,"
                 " behaviour or list name for every finding that names it.")
        ] = None,
        run_dir: Annotated[str | None, typer.Option(
            "--run", metavar="DIR",
            help="A run directory written by simulate: say how many adults and children"
                 " each finding touches in it, and the wrongful listings behind each"
                 " measure. It must have run this policy.")] = None,
        simulate_n: Annotated[int | None, typer.Option(
            "--simulate", metavar="N",
            help="Run the policy here on N persons (its own days and seed) for the same"
                 " figures.")] = None,
    ) -> None:
        """Is this policy the social scoring the EU AI Act bans? Findings per article
        (AI Act Art. 5(1)(c), GDPR Art. 22 and 15, legal basis and redress), each with
        the rule path that proves it; with --run DIR or --simulate N, whom each touches
        in a run. Exit status (for CI): 1 when any article holds indicators
        (prohibited-practice indicators under Art. 5(1)(c), or indicators under GDPR Art.
        22 or 15); 3 when none does but an article cannot be judged (facts missing, or a
        search for the least acts not determined); 2 on an error; 0 otherwise (clear, or
        findings needing review). Findings are indicators for legal review, not legal
        advice."""
        from socialcredit.audit._audit import audit as run_audit
        from socialcredit.audit._render import explain as explain_findings
        from socialcredit.audit._render import render

        if run_dir is not None and simulate_n is not None:
            raise _fail(SocialCreditError("give --run DIR or --simulate N, not both"))
        if file is None and run_dir is None:
            raise _fail(SocialCreditError("name a policy (a scenario or a file), or a run"
                                          " directory with --run DIR"))
        policy, path = _resolve(file) if file is not None else (None, None)
        figures = None
        try:
            if run_dir is not None:
                from socialcredit.audit._figures import run_figures

                policy, figures = run_figures(run_dir, policy, given_as=file or "")
                if path is None:
                    path = f"the policy of {run_dir}"
            elif simulate_n is not None:
                assert policy is not None  # noqa: S101 - a file was given
                figures = _simulated(policy, simulate_n)
            assert policy is not None  # noqa: S101 - a file or a run was given
            result = run_audit(policy, figures)
        except SocialCreditError as exc:
            raise _fail(exc) from None
        if explain is not None:
            found = result.finding(explain)
            if not found:
                ids = sorted({f.id.split("/")[0] for f in result.findings})
                raise _fail(SocialCreditError(
                    f"no finding {explain!r} in the audit of {policy.meta.name!r}: give a"
                    " finding's id, a grouped id (type/measure/*), or a whole type,"
                    f" measure, behaviour or list name; its finding types are"
                    f" {', '.join(ids) or 'none (no findings)'}; run without --explain to"
                    " see the ids"))
            if as_json:
                out.print_json(json.dumps([f for f in result.to_dict()["findings"]
                                           if f["id"] in {x.id for x in found}]))
            else:
                out.print(result.disclaimer, style="italic", markup=False)
                out.print()
                explain_findings(found, out, result.run)
        elif as_json:
            out.print_json(json.dumps(result.to_dict()))
        else:
            render(result, out, str(path))
        if result.exit_code:
            raise typer.Exit(result.exit_code)


def _simulated(policy, n: int):  # noqa: ANN001, ANN202 - Policy -> RunFigures, lazily
    """Run `policy` here on `n` persons (its days and seed), keeping no subjects."""
    from socialcredit.audit._figures import result_figures
    from socialcredit.engine import simulate

    if n < 1:
        from socialcredit.errors import RunConfigError

        raise RunConfigError(f"--simulate needs at least 1 person, got {n:,}")
    run = simulate(policy, n, subjects=False)
    return result_figures(run, "simulated here")
