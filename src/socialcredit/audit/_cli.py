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
        file: Annotated[str, typer.Argument(metavar="SCENARIO|FILE",
                                            help="A built-in scenario or a policy file.")],
        as_json: Annotated[bool, typer.Option("--json", help="Print the whole audit as"
                                              " JSON.")] = False,
        explain: Annotated[str | None, typer.Option(
            "--explain", metavar="FINDING",
            help="Print a finding's path in plain words: its id, or a part of ids (a"
                 " type, a measure, a behaviour, a list) for every finding it names.")
        ] = None,
    ) -> None:
        """Is this policy the social scoring the EU AI Act bans? Findings per article
        (AI Act Art. 5(1)(c), GDPR Art. 22 and 15, legal basis and redress), each with
        the rule path that proves it. Exit status 1 when prohibited-practice indicators
        are found (for CI), 2 on an error. Findings are indicators for legal review,
        not legal advice."""
        from socialcredit.audit._audit import audit as run_audit
        from socialcredit.audit._render import explain as explain_findings
        from socialcredit.audit._render import render

        policy, path = _resolve(file)
        try:
            result = run_audit(policy)
        except SocialCreditError as exc:
            raise _fail(exc) from None
        if explain is not None:
            found = result.finding(explain)
            if not found:
                ids = sorted({f.id.split("/")[0] for f in result.findings})
                raise _fail(SocialCreditError(
                    f"no finding {explain!r} in the audit of {policy.meta.name!r}; its"
                    f" finding types are {', '.join(ids) or 'none (no findings)'}; run"
                    " without --explain to see the ids"))
            if as_json:
                out.print_json(json.dumps([f for f in result.to_dict()["findings"]
                                           if f["id"] in {x.id for x in found}]))
            else:
                out.print(result.disclaimer, style="italic", markup=False)
                out.print()
                explain_findings(found, out)
        elif as_json:
            out.print_json(json.dumps(result.to_dict()))
        else:
            render(result, out, str(path))
        if result.prohibited:
            raise typer.Exit(1)
