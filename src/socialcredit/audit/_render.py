"""An audit in words: Rich tables for the terminal, and one finding's path (--explain)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from socialcredit.audit._audit import ARTICLES, Audit, Finding, MeasureReach

_STYLE = {"indicator": "bold red", "review": "yellow", "clear": "green"}
_WORD = {"indicator": "INDICATORS", "review": "REVIEW", "clear": "CLEAR"}


def render(a: Audit, console: Console, source: str = "") -> None:
    """The verdicts, each measure's least grave trigger, and the findings."""
    console.print(Text.assemble(("socialcredit audit: ", "bold"), a.policy,
                                f"  ({source})" if source else ""))
    console.print(a.disclaimer, style="italic", markup=False)
    console.print()
    table = Table("article", "verdict", "findings", title="Verdicts", title_justify="left")
    for art in ARTICLES:
        level = a.verdicts[art]
        found = [f for f in a.findings if f.article == art]
        n_ind = sum(f.level == "indicator" for f in found)
        table.add_row(art, Text(f"{_WORD[level]}: {a.verdict_text(art)}", _STYLE[level]),
                      f"{len(found)} ({n_ind} indicators)" if found else "0")
    console.print(table)
    if a.measures:
        table = Table("measure", "context, severity", "least grave act that brings it"
                      " alone", title="What brings each measure (exact, through the rule"
                      " engine; one act a day)", title_justify="left")
        for m in a.measures:
            table.add_row(
                Text(m.measure + (" (company)" if m.subject == "company" else ""),
                     overflow="fold"),
                f"{m.context or '-'}, {m.severity or '-'}" if m.type == "sanction"
                else f"{m.context or '-'}, privilege",
                f"{m.acts:,} x {m.behaviour} ({_gravity(m)}) in"
                f" {m.window:,} days" if m.behaviour else "none alone")
        console.print(table)
    if not a.findings:
        console.print("No findings.", style="green")
        console.print(Text.assemble(("Verdict under ", "bold"), (ARTICLES[0], "bold"),
                                    ": ", (a.verdict_text(ARTICLES[0]), "green")))
        return
    console.print(Text("Findings, by article (cross-context paths grouped by measure;"
                       " --explain ID prints a path in words, --json gives all)",
                       style="italic"))
    shown: set[str] = set()
    for art in ARTICLES:
        found = [f for f in a.findings if f.article == art]
        if not found:
            continue
        console.print(Text(art, style="bold"))
        for f in found:
            if f.type == "cross_context":
                if f.measure in shown:
                    continue
                shown.add(f.measure or "")
                group = [g for g in found if g.type == "cross_context"
                         and g.measure == f.measure]
                ctxs = sorted({g.facts["behaviour_context"] for g in group})
                what = (f"{f.measure} ({f.facts['measure_context']}) is brought from"
                        f" {len(ctxs)} unrelated context(s) ({', '.join(ctxs)}):"
                        " " + ", ".join(_acts(g) for g in group))
                ident = f"cross_context/{f.measure}/*"
            else:
                what, ident = f.title, f.id
            console.print(Text.assemble("  ", (f"{f.level:<9}", _STYLE[f.level]), " ",
                                        (ident, "cyan"), "  ", what))
    console.print()
    level = a.verdicts[ARTICLES[0]]
    console.print(Text.assemble(("Verdict under ", "bold"), (ARTICLES[0], "bold"), ": ",
                                (a.verdict_text(ARTICLES[0]), _STYLE[level]),
                                " (exit status 1)" if a.prohibited else ""))


def _gravity(m: MeasureReach) -> str:
    if m.gravity:
        return m.gravity
    return "a merit" if m.type == "privilege" else "gravity not stated"


def _acts(f: Finding) -> str:
    n = f.facts.get("acts")
    return (f"{f.behaviour} x {n:,}" if n is not None
            else f"{f.behaviour} (with other records)")


def explain(findings: list[Finding], console: Console) -> None:
    """Each finding's path, step by step, in plain words."""
    for f in findings:
        console.print(Text.assemble((f.id, "bold"), "  ", (f.level, _STYLE[f.level]), "  ",
                                    f.article))
        console.print(f.title, markup=False)
        for i, step in enumerate(f.path, 1):
            console.print(f"  {i}. {step}", markup=False)
        console.print()
