"""The broken corpus (tests/policy/corpus.py): thousands of policy files, each either
refused with one clear message per problem, at its field path, or run to a strict-JSON
result that means something. The JSON Schema accepts the built-ins and the odd but valid
files, and refuses the corpus's values out of range."""

from __future__ import annotations

import json
import math
import re
import tomllib
from collections import defaultdict

import jsonschema
import pytest
from typer.testing import CliRunner

from socialcredit import PolicyError, parse_policy
from socialcredit.cli import app
from socialcredit.policy._schema import json_schema
from socialcredit.scenarios import list_scenarios, scenario_path

from .corpus import Case, corpus

CASES = corpus()
GROUPS: dict[str, list[Case]] = defaultdict(list)
for c in CASES:
    GROUPS[c.id.split(":")[0] if ":" in c.id else "text"].append(c)
PYDANTIC_WORDS = ("function-after", "function-plain", "pydantic", "input_value", "type=",
                  "For further information", "Value error,", "instance of", "0x7f",
                  "Traceback", "lax-or-strict", "constrained-")
runner = CliRunner()


def test_the_corpus_is_large_and_covers_every_section():
    refused = [c for c in CASES if c.refused]
    assert len(refused) > 1000
    assert len([c for c in CASES if not c.refused]) >= 15
    sections = {name.split(".")[0].split("[")[0] for c in refused for name in c.names}
    for section in ("meta", "run", "population", "regions", "channels", "behaviours",
                    "person_score", "company_score", "lists", "measures", "disclosure",
                    "companies", "summary"):
        assert section in sections, section


def _problems(message: str) -> list[str]:
    return [line for line in message.splitlines() if line.startswith("  - ")]


@pytest.mark.parametrize("group", sorted(g for g, cs in GROUPS.items()
                                         if any(c.refused for c in cs)))
def test_each_broken_file_is_refused_naming_each_problem(group):
    failures = []
    for c in GROUPS[group]:
        if not c.refused:
            continue
        try:
            parse_policy(c.text, source="case.toml")
        except PolicyError as exc:
            msg = str(exc)
        else:
            failures.append(f"{c.id}: accepted")
            continue
        problems = _problems(msg)
        if not msg.startswith("case.toml: "):
            failures.append(f"{c.id}: the message does not name the file: {msg}")
        if problems:
            count = re.search(r"(\d+) problem\(s\)", msg)
            if not count or int(count.group(1)) != len(problems):
                failures.append(f"{c.id}: the count differs from the lines listed: {msg}")
        if c.problems is not None and len(problems) != c.problems:
            failures.append(f"{c.id}: {len(problems)} problems, expected {c.problems}: {msg}")
        for name in c.names:
            if name not in msg:
                failures.append(f"{c.id}: {name!r} not named in: {msg}")
        for word in PYDANTIC_WORDS:
            if word in msg:
                failures.append(f"{c.id}: {word!r} in: {msg}")
        if c.id.endswith("=nan") and "NaN" not in msg:
            failures.append(f"{c.id}: NaN not named: {msg}")
        if re.search(r"=-?inf$", c.id) and "infinity" not in msg:
            failures.append(f"{c.id}: infinity not named: {msg}")
    assert not failures, "\n".join(failures[:30]) + f"\n({len(failures)} in all)"


@pytest.mark.slow
def test_the_command_line_refuses_with_exit_2_and_the_whole_message(tmp_path):
    """A sample of the corpus through `socialcredit validate`: exit status 2, no
    traceback, and the library's message printed whole (brackets included)."""
    failures = []
    sample = [c for c in CASES if c.refused][::20]
    for k, c in enumerate(sample):
        f = tmp_path / f"case{k}.toml"
        f.write_text(c.text, encoding="utf-8")
        res = runner.invoke(app, ["validate", str(f)])
        try:
            parse_policy(c.text, source=str(f))
        except PolicyError as exc:
            want = str(exc)
        if res.exit_code != 2 or res.exception and not isinstance(res.exception, SystemExit):
            failures.append(f"{c.id}: exit {res.exit_code} {res.exception!r}")
        elif want not in res.output.replace("error: ", "", 1):
            failures.append(f"{c.id}: printed {res.output!r}, the message is {want!r}")
    assert not failures, "\n".join(failures[:20])


VALIDATOR = jsonschema.Draft202012Validator(json_schema())


def _schema_errors(data: dict) -> list:
    return list(VALIDATOR.iter_errors(data))


def test_the_schema_accepts_the_built_ins_and_the_odd_but_valid():
    for name in list_scenarios():
        data = tomllib.loads(scenario_path(name).read_text(encoding="utf-8"))
        assert _schema_errors(data) == [], name
    for c in CASES:
        if not c.refused and c.data is not None:
            assert _schema_errors(c.data) == [], c.id


def test_the_schema_refuses_values_out_of_range():
    failures = [c.id for c in CASES if c.out_of_range and c.data is not None
                and VALIDATOR.is_valid(c.data)]
    assert sum(c.out_of_range for c in CASES) > 500
    assert not failures, failures[:20]


def _strict(text: str):
    def refuse(token: str):
        raise ValueError(f"{token} is not JSON")
    return json.loads(text, parse_constant=refuse)


@pytest.mark.slow
@pytest.mark.parametrize("case", [c for c in CASES if not c.refused], ids=lambda c: c.id)
def test_odd_but_valid_files_run_to_a_meaningful_result(case, tmp_path):
    f = tmp_path / "policy.toml"
    f.write_text(case.text, encoding="utf-8")
    out = tmp_path / "run"
    res = runner.invoke(app, ["simulate", str(f), "-n", "600", "-d", "40", "-q", "-o", str(out)])
    assert res.exit_code == 0, res.output
    summary = _strict((out / "summary.json").read_text(encoding="utf-8"))
    _strict((out / "details.json").read_text(encoding="utf-8"))

    def shares(d: dict, path: str = "") -> None:
        for k, v in d.items():
            if isinstance(v, dict):
                shares(v, f"{path}.{k}")
            elif v is None:
                continue  # a share of nobody (no children, no companies): null, not 0
            elif k not in ("mean_score", "mean_tax_multiplier") and not k.startswith(
                    "records_per"):
                assert 0.0 <= v <= 1.0, (path, k, v)
            else:
                assert math.isfinite(v)

    shares({k: v for k, v in summary.items() if k != "records_per_adult"})
    if case.id == "runs:no-children":
        assert summary["children_restricted"] is None
    if case.id == "runs:no-companies":
        assert summary["mean_tax_multiplier"] is None
    if case.id == "runs:late-rollout":
        assert "joins" in res.output  # warned: that region records nothing in this run


def test_every_field_of_the_schema_says_what_it_is():
    schema = json_schema()
    missing = [f"{name}.{p}" for name, d in schema["$defs"].items()
               for p, v in d.get("properties", {}).items() if "description" not in v]
    missing += [p for p, v in schema["properties"].items() if "description" not in v]
    assert missing == []
    text = json.dumps(schema)
    assert "]]" not in text.replace("[[", "")  # no stray brackets in descriptions


def test_the_schema_agrees_with_the_loader_on_names_and_integers():
    """What the loader accepts the schema accepts, and the other way round, for the
    cases where they used to differ."""
    from .corpus import load, put

    ref = load("reference")
    same = [
        (put(ref, ("person_score", "window_days"), 180.0), True),  # an integral float
        (put(ref, ("channels", "Camera2"), {}), False),            # not a name
        (put(ref, ("regions", 0, "name"), "   "), False),           # blank
        (put(ref, ("behaviours", 0, "name"), " volunteering "), False),
        (put(ref, ("person_score", "grades", 0, "name"), "A.A"), False),
    ]
    for data, ok in same:
        try:
            parse_policy(_toml(data))
            loaded = True
        except PolicyError:
            loaded = False
        assert loaded is ok, data
        assert VALIDATOR.is_valid(data) is ok, data


def _toml(data: dict) -> str:
    from .corpus import to_toml

    return to_toml(data)
