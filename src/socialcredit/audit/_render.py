"""An audit in words: Rich tables for the terminal, and one finding's path (--explain)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from socialcredit.audit._audit import ARTICLES, Audit, Finding, MeasureReach
from socialcredit.audit._figures import RunFigures, _n

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
        table.add_row(art, _verdict(a, art),
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
                _least(m))
        console.print(table)
    if a.run is not None:
        _figures(a, console)
    if not a.findings:
        console.print("No findings.", style="green")
        level = a.verdicts[ARTICLES[0]]
        console.print(Text.assemble(("Verdict under ", "bold"), (ARTICLES[0], "bold"),
                                    ": ", (a.verdict_text(ARTICLES[0]), _STYLE[level]),
                                    f" (exit status {a.exit_code})" if a.exit_code
                                    else ""))
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
                                        (ident, "cyan"), "  ", what,
                                        (_touches(a.run, f), "magenta")))
    console.print()
    level = a.verdicts[ARTICLES[0]]
    console.print(Text.assemble(("Verdict under ", "bold"), (ARTICLES[0], "bold"), ": ",
                                (a.verdict_text(ARTICLES[0]), _STYLE[level]),
                                f" (exit status {a.exit_code})" if a.exit_code else ""))


def _verdict(a: Audit, art: str) -> Text:
    if art in a.cannot_judge:
        return Text("CANNOT JUDGE: " + a.verdict_text(art).removeprefix("cannot judge: "),
                    "bold yellow")
    level = a.verdicts[art]
    return Text(f"{_WORD[level]}: {a.verdict_text(art)}", _STYLE[level])


def _least(m: MeasureReach) -> str:
    """The least grave act that brings a measure alone, in the measures table."""
    if m.at_rest:
        return "everyone, with no act at all"
    if m.behaviour and m.acts is not None:
        n = f"{m.acts:,}" if m.exact else f"at most {m.acts:,}"
        text = f"{n} x {m.behaviour} ({_gravity(m)}) in {m.window:,} days"
    else:
        text = "none alone"
    if m.undetermined:
        text += (f"; not determined within {m.tried:,} acts for"
                 f" {', '.join(m.undetermined)}")
    return text


def _gravity(m: MeasureReach) -> str:
    if m.gravity:
        return m.gravity
    return "a merit" if m.type == "privilege" else "gravity not stated"


def _acts(f: Finding) -> str:
    n = f.facts.get("acts")
    if n is None:
        return f"{f.behaviour} (with other records)"
    return f"{f.behaviour} x {'at most ' if f.facts.get('exact') is False else ''}{n:,}"


def explain(findings: list[Finding], console: Console, run: RunFigures | None = None
            ) -> None:
    """Each finding's path, step by step, in plain words (and, with a run, whom it
    touches there)."""
    if run is not None:
        console.print(f"Figures from the run ({run.header})", markup=False)
        console.print()
    for f in findings:
        console.print(Text.assemble((f.id, "bold"), "  ", (f.level, _STYLE[f.level]), "  ",
                                    f.article))
        console.print(f.title, markup=False)
        for i, step in enumerate(f.path, 1):
            console.print(f"  {i}. {step}", markup=False)
        words = run.words(f) if run is not None else None
        if words:
            console.print(f"  In the run: {words}.", markup=False)
        console.print()


def _touches(run: RunFigures | None, f: Finding) -> str:
    """ [run: N adults, M children], after a finding's line."""
    t = run.touches(f) if run is not None else None
    if t is None:
        return ""
    if t.get("type") == "privilege":
        return f"  [run: granted to {_n(t['adults'])} adults]"
    wrong = t.get("wrongfully_listed")
    on = f" on {t['list']}" if t.get("list") else ""
    return (f"  [run: {_n(t['adults'])} adults, {_n(t['children'])} children"
            + (f"; {_n(wrong)} adults wrongfully{on}" if wrong else "") + "]")


def measures_shown(a: Audit) -> list[str]:
    """The measures whose figures are shown: those with findings; with none, every
    person measure of the run."""
    run = a.run
    if run is None:
        return []
    names = list(dict.fromkeys(f.measure for f in a.findings
                               if f.measure is not None and f.measure in run.measures))
    return names or [m.measure for m in run.measures.values() if m.subject == "person"]


def _figures(a: Audit, console: Console) -> None:
    """Whom each measure with findings touches at the end of the run, and the wrongful
    listings behind it; then each list, with the measures it brings."""
    run = a.run
    assert run is not None  # noqa: S101 - called with a run
    names = measures_shown(a)
    table = Table("measure", "at the end (most on a day)",
                  "service refused (adults, children)", "wrongfully listed",
                  title=f"Figures from the run ({run.header})", title_justify="left",
                  caption="A service is counted refused by any measure (for a privilege:"
                          " not granted). Wrongfully listed: on the list only through"
                          " false records.", caption_justify="left")
    for name in names:
        m = run.measures[name]
        who = "children" if m.reaches == "children" else "adults"
        table.add_row(
            Text(name, overflow="fold"),
            f"{_n(m.in_force)} {who}" + (" granted" if m.type == "privilege" else "")
            + f" ({_n(m.peak)})",
            f"{m.service}: {_n(m.denied)}, {_n(m.denied_children)}"
            + (" (not granted)" if m.type == "privilege" else "") if m.service else "-",
            f"{_n(m.wrongfully_listed)} of {_n(m.listed)} on {m.list}" if m.list
            else "- (by grade)")
    if names:
        console.print(table)
    lists = [x for x in run.lists.values() if x.subject == "person"]
    if lists:
        table = Table("list", "at the end (ever)", "wrongfully (most on a day)",
                      "measures it brings", title="Wrongful listings: adults on a list only"
                      " through false records (misattributed or false positive)",
                      title_justify="left")
        for x in lists:
            table.add_row(x.list, f"{_n(x.listed)} ({_n(x.ever_listed)})",
                          f"{_n(x.wrongfully_listed)} ({_n(x.peak_wrongfully_listed)})",
                          Text(", ".join(x.measures) or "-", overflow="fold"))
        console.print(table)
