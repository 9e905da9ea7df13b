"""A corpus of broken (and odd but valid) policy files, made by mutating the built-in
scenarios section by section: wrong types, values outside their domain, unknown names,
missing and unknown fields, structures that mean nothing, degenerate societies, and
whole-file problems. Each case says what must happen: refused, with a message that
names the field, or run to a meaningful result."""

from __future__ import annotations

import copy
import json
import math
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from socialcredit.scenarios import scenario_path

Path = tuple[str | int, ...]


@dataclass(frozen=True)
class Case:
    id: str
    text: str                      # the policy file
    refused: bool                  # must be refused (else: must run)
    names: tuple[str, ...] = ()    # what the message must name (field paths)
    problems: int | None = None    # exactly this many problems, when known
    out_of_range: bool = False     # a finite value outside the schema: the schema refuses it
    data: dict | None = field(default=None, compare=False)  # the parsed file, if TOML


def dotted(path: Path) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else ("." if out else "") + str(part)
    return out


# ------------------------------------------------------------------ TOML out
def _value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{json.dumps(k)} = {_value(x)}" for k, x in v.items()) + "}"
    raise TypeError(type(v))


def to_toml(data: dict) -> str:
    """Every top-level key as one line, `key = <inline value>`: valid TOML."""
    return "".join(f"{json.dumps(k)} = {_value(v)}\n" for k, v in data.items())


# ------------------------------------------------------------------ helpers
def load(name: str) -> dict:
    return tomllib.loads(scenario_path(name).read_text(encoding="utf-8"))


def get(data: Any, path: Path) -> Any:
    for p in path:
        data = data[p]
    return data


def put(data: dict, path: Path, value: Any) -> dict:
    out = copy.deepcopy(data)
    get(out, path[:-1])[path[-1]] = value
    return out


def drop(data: dict, path: Path) -> dict:
    out = copy.deepcopy(data)
    del get(out, path[:-1])[path[-1]]
    return out


def leaves(data: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    if isinstance(data, dict):
        for k, v in data.items():
            yield from leaves(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from leaves(v, (*path, i))
    else:
        yield path, data


def tables(data: Any, path: Path = ()) -> Iterator[Path]:
    """Paths of every table of the format (not the free-form maps of names)."""
    if isinstance(data, dict):
        free = path[-1:] in (("channels",), ("coverage",), ("person_traits",),
                             ("company_traits",), ("tax_multiplier",))
        if not free:
            yield path
        for k, v in data.items():
            yield from tables(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            yield from tables(v, (*path, i))


def case(cid: str, data: dict, refused: bool = True, names: tuple[str, ...] = (),
         problems: int | None = None, out_of_range: bool = False) -> Case:
    return Case(cid, to_toml(data), refused, names, problems, out_of_range, data)


# ------------------------------------------------------------------ the corpus
NOT_A_NUMBER = [("nan", math.nan), ("inf", math.inf), ("-inf", -math.inf)]
WRONG_TYPE = [("text", "abc"), ("bool", True), ("array", []), ("table", {})]
HUGE = [("1e15", 1e15), ("-1e15", -1e15), ("int64max", 2**63 - 1),
        ("-int64max", -(2**63) + 1)]
FREE_TEXT = {"title", "description", "version", "sources", "legal_basis", "name", "label",
             "kind", "channel", "coverage", "multiplier", "distribution", "type",
             "subject", "aggregate", "reaches", "service", "misattribution_target", "list",
             "company_kind", "grade", "probability"}


def numeric_cases(name: str) -> Iterator[Case]:
    """Every number of the scenario replaced by NaN, infinities, wrong types and values
    far outside any domain (the seed alone takes any integer up to 2**63 - 1)."""
    data = load(name)
    for path, v in leaves(data):
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            continue
        if isinstance(v, str) and "/" not in v:
            continue  # names and texts: see the name cases
        key = dotted(path)
        # the field's own path (a grade's min, a clamp's bound) is what the message names
        named = key if not isinstance(path[-1], int) or path[-2] != "clamp" else dotted(
            path[:-1])
        values = NOT_A_NUMBER + WRONG_TYPE + (
            HUGE if path != ("run", "seed") else [("negative", -1), ("2**63", 2**63)])
        for label, bad in values:
            if path[-2:-1] == ("sources",):
                continue
            yield case(f"{name}:{key}={label}", put(data, path, bad), names=(named,),
                       out_of_range=label not in ("nan", "inf", "-inf"))


DOMAINS: list[tuple[str, Path, list[Any]]] = [
    # (what, path in reference, values outside its domain)
    ("probability", ("channels", "camera", "detection"), [-0.1, 1.5, "3/2"]),
    ("probability", ("channels", "camera", "misattribution"), [-0.01, 1.01]),
    ("probability", ("channels", "camera", "deterrence"), [2]),
    ("probability", ("channels", "online", "false_positive", "rate"), [1.5, -1]),
    ("daily probability", ("behaviours", 0, "rate"), [5, 1.0001, -0.5, "2/1", "1/0"]),
    ("coverage", ("regions", 0, "coverage", "camera"), [1.2, -0.3]),
    ("weight", ("regions", 0, "weight"), [-1, 1e7]),
    ("share", ("population", "child_share"), [1.0, -0.2, 1.2]),
    ("companies", ("population", "companies_per_person"), [11, -0.1, 1e7]),
    ("share", ("population", "company_kinds", 0, "share"), [1.5, -0.3]),
    ("sigma", ("population", "person_traits", "risk", "sigma"), [0, -1, 6]),
    ("beta a", ("population", "company_traits", "compliance_risk", "a"), [0, -2, 1e7]),
    ("days", ("person_score", "window_days"), [0, -5, 40_000, 1.5]),
    ("days", ("lists", 0, "triggers", 0, "days"), [0, 40_000]),
    ("base", ("person_score", "base"), [3_000_000_000, -3_000_000_000]),
    ("points", ("behaviours", 0, "points"), [1_000_000, -1_000_000, 2.5]),
    ("threshold", ("lists", 0, "score_below"), [2**31, 7.5]),
    ("tax", ("companies", "tax_multiplier", "A"), [-5, 0, 101]),
    ("joins day", ("regions", 0, "joins_day"), [-1, 30_000]),
    ("population", ("run", "population"), [0, -5, 3_000_000_000]),
    ("days", ("run", "days"), [0, 30_000]),
]


def domain_cases() -> Iterator[Case]:
    data = load("reference")
    for what, path, values in DOMAINS:
        for bad in values:
            # a fraction's value is beyond what a JSON Schema can check
            yield case(f"domain:{what}:{dotted(path)}={bad!r}", put(data, path, bad),
                       names=(dotted(path),), out_of_range=not isinstance(bad, str))


REFERENCES: list[tuple[str, Path]] = [
    ("behaviours", ("behaviours", 0, "channel")),
    ("behaviours", ("behaviours", 0, "multiplier")),
    ("behaviours", ("behaviours", 8, "outcomes", 0, "probability")),
    ("behaviours", ("behaviours", 9, "company_kinds", 0)),
    ("channels", ("channels", "camera", "coverage")),
    ("channels", ("channels", "online", "false_positive", "kind")),
    ("lists", ("lists", 0, "triggers", 0, "kind")),
    ("lists", ("lists", 1, "excludes", 0)),
    ("measures", ("measures", 0, "list")),
    ("measures", ("measures", 3, "list")),
    ("disclosure", ("disclosure", 0, "list")),
    ("disclosure", ("disclosure", 1, "grades", 0)),
    ("summary", ("summary", "extra_company_grade_shares", 0, "company_kind")),
    ("summary", ("summary", "extra_company_grade_shares", 0, "grade")),
    ("companies", ("companies", "tax_multiplier", "Z")),
]


def reference_cases() -> Iterator[Case]:
    """Names that refer to nothing the policy defines."""
    data = load("reference")
    for _, path in REFERENCES:
        if path[:2] == ("companies", "tax_multiplier"):
            broken = put(data, path, 1.0)
        else:
            assert isinstance(get(data, path), str), path
            broken = put(data, path, "nothing_here")
        # a channel's coverage renamed leaves the regions' coverage unused: two problems
        n = 2 if path == ("channels", "camera", "coverage") else 1
        yield case(f"reference:{dotted(path)}", broken, names=(dotted(path),), problems=n)
    # a measure by grade, a procurement grade, and a disclosure kind that do not exist
    yield case("reference:measures[0].grades", put(drop(data, ("measures", 0, "list")),
                                                    ("measures", 0, "grades"), ["ZZZ"]),
               names=("measures[0].grades[0]",), problems=1)
    yield case("reference:procurement", put(data, ("companies", "procurement_excluded_grades"),
                                            ["ZZZ"]),
               names=("companies.procurement_excluded_grades[0]",), problems=1)
    yield case("reference:disclosure kinds", put(data, ("disclosure", 1, "company_kinds"),
                                                 ["bakery"]),
               names=("disclosure[1].company_kinds[0]",), problems=1)


def missing_cases(name: str) -> Iterator[Case]:
    """Each required field removed."""
    data = load(name)
    required = [("meta",), ("meta", "name"), ("regions",), ("channels",),
                ("behaviours", 0, "name"), ("behaviours", 0, "rate"),
                ("behaviours", 0, "channel"), ("person_score", "base"),
                ("person_score", "window_days"), ("person_score", "grades"),
                ("lists", 0, "name"), ("measures", 0, "name"), ("measures", 0, "type"),
                ("population", "company_kinds", 0, "share")]
    for path in required:
        try:
            get(data, path)
        except (KeyError, IndexError):
            continue
        yield case(f"{name}:missing:{dotted(path)}", drop(data, path), names=())


def unknown_key_cases(name: str) -> Iterator[Case]:
    """A typo in every table: the message names the table and lists the valid keys."""
    data = load(name)
    for path in tables(data):
        target = dotted(path) or "(top level)"
        yield case(f"{name}:unknown-key:{target}", put(data, (*path, "colour"), 1),
                   names=(target, "unknown field 'colour'", "valid fields here are"),
                   problems=1)


def structure_cases() -> Iterator[Case]:
    """Values of the right types that mean nothing together."""
    ref = load("reference")
    b0 = ref["behaviours"][0]
    comp = ref["behaviours"][8]  # a company behaviour with outcomes
    yield from [
        case("dup-behaviour", put(ref, ("behaviours", 1, "name"), b0["name"]),
             names=("behaviours[1].name",)),
        case("dup-region", put(ref, ("regions", 1, "name"), ref["regions"][0]["name"]),
             names=("regions[1].name",)),
        case("dup-list", put(ref, ("lists", 1, "name"), "blacklist"), names=("lists[1].name",)),
        case("dup-measure", put(ref, ("measures", 1, "name"), ref["measures"][0]["name"]),
             names=("measures[1].name",)),
        case("grades-out-of-order", put(ref, ("person_score", "grades", 1, "min"), 2000),
             names=("person_score",)),
        case("last-grade-with-min", put(ref, ("person_score", "grades", 5, "min"), 0),
             names=("person_score",)),
        case("grade-without-min", drop(ref, ("person_score", "grades", 2, "min")),
             names=("person_score",)),
        case("clamp-inverted", put(ref, ("person_score", "clamp"), [900, 100]),
             names=("person_score",)),
        case("clamp-three", put(ref, ("person_score", "clamp"), [1, 2, 3]),
             names=("person_score.clamp",)),
        case("points-and-outcomes", put(ref, ("behaviours", 8, "points"), 3),
             names=("behaviours[8]",)),
        case("neither-points-nor-outcomes", drop(ref, ("behaviours", 0, "points")),
             names=("behaviours[0]",)),
        case("one-outcome", put(ref, ("behaviours", 8, "outcomes"), comp["outcomes"][:1]),
             names=("behaviours[8]",)),
        case("last-outcome-probability", put(ref, ("behaviours", 8, "outcomes", 1,
                                                   "probability"), 0.5),
             names=("behaviours[8]",)),
        case("outcome-without-probability", drop(ref, ("behaviours", 8, "outcomes", 0,
                                                       "probability")),
             names=("behaviours[8]",)),
        case("kind-kinds-on-person", put(ref, ("behaviours", 0, "company_kinds"), ["firm"]),
             names=("behaviours[0]",)),
        case("empty-company-kinds", put(ref, ("behaviours", 9, "company_kinds"), []),
             names=("behaviours[9].company_kinds",)),
        case("same-kind-twice", put(ref, ("behaviours", 1, "name"), "volunteering"),
             names=("behaviours[1].name",), problems=2),
        case("outcome-kind-clash", put(ref, ("behaviours", 9, "outcomes", 0, "name"),
                                       "late_payment"),
             names=("behaviours[9].outcomes[0].name",)),
        case("list-without-condition", drop(drop(ref, ("lists", 0, "score_below")),
                                            ("lists", 0, "triggers")), names=("lists[0]",)),
        case("both-thresholds", put(ref, ("lists", 0, "score_at_least"), 10),
             names=("lists[0]",)),
        case("clear-without-duration", put(ref, ("lists", 0, "clear_points"), True),
             names=("lists[0]",)),
        case("repair-without-after", put(ref, ("lists", 0, "triggers", 0,
                                               "repair_probability"), 0.3),
             names=("lists[0].triggers[0]",)),
        case("repair-longer", put(put(ref, ("lists", 0, "triggers", 0, "repair_after_days"),
                                      400), ("lists", 0, "triggers", 0, "repair_probability"),
                                  0.3), names=("lists[0].triggers[0]",)),
        case("excludes-later", put(ref, ("lists", 0, "excludes"), ["redlist"]),
             names=("lists[0].excludes[0]",)),
        case("measure-list-and-grades", put(ref, ("measures", 0, "grades"), ["D"]),
             names=("measures[0]",)),
        case("company-measure-children", put(put(ref, ("measures", 3, "subject"), "company"),
                                            ("measures", 3, "list"), "blacklist"),
             names=("measures[3]",)),
        case("disclosure-both", put(ref, ("disclosure", 0, "grades"), ["D"]),
             names=("disclosure[0]",)),
        case("disclosure-kinds-person", put(ref, ("disclosure", 0, "company_kinds"),
                                            ["firm"]), names=("disclosure[0]",)),
        case("disclosure-field", put(ref, ("disclosure", 0, "fields"), ["name", "address"]),
             names=("disclosure[0].fields[1]",)),
        case("disclosure-no-fields", put(ref, ("disclosure", 0, "fields"), []),
             names=("disclosure[0].fields",)),
        case("company-kind-shares", put(ref, ("population", "company_kinds", 0, "share"), 0.5),
             names=("population.company_kinds",)),
        case("person-list-trigger-company-kind", put(ref, ("lists", 0, "triggers", 0, "kind"),
                                                     "late_payment"),
             names=("lists[0].triggers[0].kind",)),
        case("trait-without-sigma", drop(ref, ("population", "person_traits", "risk",
                                               "sigma")),
             names=("population.person_traits.risk",)),
        case("trait-unknown-distribution", put(ref, ("population", "person_traits", "risk",
                                                     "distribution"), "pareto"),
             names=("population.person_traits.risk.distribution",)),
        case("name-pattern", put(ref, ("behaviours", 0, "name"), "Volunteering!"),
             names=("behaviours[0].name", "should be a name")),
        case("meta-name-pattern", put(ref, ("meta", "name"), "My Policy"),
             names=("meta.name",)),
        case("summary-label-clash", put(ref, ("lists", 1, "label"), "blacklisted"),
             names=("lists[1].label",)),
        case("no-person-score", drop(ref, ("person_score",)),
             names=("behaviours[0].subject", "lists[0].subject")),
        case("no-company-score", drop(ref, ("company_score",)),
             names=("behaviours[8].subject", "companies.tax_multiplier.A")),
        case("too-many-lists", put(ref, ("lists",), [
            {"name": f"l{i}", "score_below": i} for i in range(17)]), names=("lists",)),
    ]


def society_cases() -> Iterator[Case]:
    """Degenerate societies, and values used where they cannot mean anything."""
    ref = load("reference")
    zero = copy.deepcopy(ref)
    for r in zero["regions"]:
        r["weight"] = 0
    yield case("all-weights-zero", zero, names=("regions",), problems=1)
    yield case("child-share-one", put(ref, ("population", "child_share"), 1.0),
               names=("population.child_share",), out_of_range=True)
    yield case("coverage-typo", put(ref, ("regions", 3, "coverage", "camara"), 0.5),
               names=("regions[3].coverage.camara",), problems=1)
    yield case("coverage-missing", drop(ref, ("regions", 3, "coverage", "camera")),
               names=("channels.camera.coverage",))
    yield case("negative-constant-multiplier", put(ref, ("population", "person_traits", "risk"),
                                                   {"distribution": "constant",
                                                    "value": -2}),
               names=("behaviours[2].multiplier",))
    yield case("lognormal-as-probability",
               put(ref, ("population", "company_traits", "compliance_risk"),
                   {"distribution": "lognormal", "sigma": 0.5}),
               names=("behaviours[8].outcomes[0].probability",))
    yield case("constant-5-as-probability",
               put(ref, ("population", "company_traits", "compliance_risk"),
                   {"distribution": "constant", "value": 5}),
               names=("behaviours[8].outcomes[0].probability",))
    yield case("beta-inf", put(ref, ("population", "company_traits", "compliance_risk", "a"),
                               math.inf), names=("population.company_traits",))
    yield case("trait-nan", put(ref, ("population", "person_traits", "risk", "sigma"),
                                math.nan), names=("population.person_traits.risk.sigma",))


def review_cases() -> Iterator[Case]:
    """Cases a cold review found: each was accepted, or hid another problem."""
    ref = load("reference")
    zero = copy.deepcopy(ref)
    for r in zero["regions"]:
        r["weight"] = "0/5"
    yield case("review:weights-zero-as-fractions", zero, names=("regions",), problems=1)
    typo = put(put(ref, ("measures", 0, "servise"), "flight"), ("measures", 0, "list"),
               "greylist")
    yield case("review:typo-and-reference-in-one-item", typo,
               names=("measures[0]: unknown field 'servise'", "measures[0].list"), problems=2)
    yield case("review:bad-rate-and-channel", put(put(ref, ("behaviours", 0, "rate"), 5),
                                                  ("behaviours", 0, "channel"), "drone"),
               names=("behaviours[0].rate", "behaviours[0].channel"), problems=2)
    yield case("review:bad-days-and-kind", put(put(ref, ("lists", 0, "triggers", 0, "days"),
                                                   0), ("lists", 0, "triggers", 0, "kind"),
                                               "treason"),
               names=("lists[0].triggers[0].days", "lists[0].triggers[0].kind"), problems=2)
    for bad in ("A.A", "a b", "", "x" * 40):
        yield case(f"review:grade-name={bad[:5]!r}",
                   put(ref, ("person_score", "grades", 0, "name"), bad),
                   names=("person_score.grades[0].name",))
    for bad in ("city\x1b[31m", "   ", "new\nline"):
        yield case(f"review:region-name={bad!r}", put(ref, ("regions", 0, "name"), bad),
                   names=("regions[0].name",))
    yield case("review:name-with-spaces", put(ref, ("behaviours", 0, "name"), " volunteering "),
               names=("behaviours[0].name",))
    yield case("review:base-outside-clamp", put(ref, ("person_score", "clamp"), [0, 500]),
               names=("person_score",))
    yield case("review:same-trigger-twice", put(ref, ("lists", 0, "triggers"), [
        {"kind": "court_judgment_default", "days": 365},
        {"kind": "court_judgment_default", "days": 30}]), names=("lists[0]",))
    yield case("review:unused-trait-parameter", put(ref, ("population", "person_traits", "risk",
                                                          "a"), 2.0),
               names=("population.person_traits.risk",))
    yield case("review:empty-grades", put(drop(ref, ("measures", 0, "list")),
                                          ("measures", 0, "grades"), []),
               names=("measures[0].grades",))
    yield case("review:date-value", put(ref, ("behaviours", 0, "rate"), "1979-05-27"),
               names=("behaviours[0].rate",))


def many_problems_case() -> Case:
    """Four problems of different sorts in one file: all four are reported."""
    ref = load("reference")
    data = put(ref, ("channels", "camera", "detection"), 1.5)       # a field
    data = put(data, ("behaviours", 2, "channel"), "drone")          # a reference
    data = put(data, ("measures", 0, "list"), "greylist")            # a reference
    data = put(data, ("lists", 1, "triggers"), [{"kind": "treason", "days": 10}])
    return case("four-problems", data, names=(
        "channels.camera.detection", "behaviours[2].channel", "measures[0].list",
        "lists[1].triggers[0].kind"), problems=4)


def text_cases() -> Iterator[Case]:
    """Whole files that are not policies, or not TOML."""
    good = scenario_path("reference").read_text(encoding="utf-8")
    yield Case("empty", "", True, ("the file is empty",))
    yield Case("whitespace", "  \n\t\n", True, ("the file is empty",))
    yield Case("not-toml", "[meta\nname = 'x'", True, ("not valid TOML",))
    yield Case("binary", "\x00\x01\x02garbage", True, ("not valid TOML",))
    yield Case("nested", "x = " + "[" * 5000 + "]" * 5000, True, ("nested too deeply",))
    yield Case("top-level-array", "x = [1, 2]\n", True, ("x", "unknown field 'x'"))
    yield Case("bom", "\ufeff" + good, False)


def runs_cases() -> Iterator[Case]:
    """Odd but valid policies: they must run to a meaningful result."""
    ref = load("reference")
    yield case("runs:rate-one", put(ref, ("behaviours", 0, "rate"), 1), refused=False)
    yield case("runs:rate-zero", put(ref, ("behaviours", 0, "rate"), 0), refused=False)
    yield case("runs:no-children", put(ref, ("population", "child_share"), 0), refused=False)
    yield case("runs:no-companies", put(ref, ("population", "companies_per_person"), 0),
               refused=False)
    yield case("runs:one-region", put(ref, ("regions",), ref["regions"][:1]), refused=False)
    yield case("runs:late-rollout", put(ref, ("regions", 0, "joins_day"), 20_000),
               refused=False)
    yield case("runs:misattribute-all", put(ref, ("channels", "camera", "misattribution"), 1),
               refused=False)
    yield case("runs:deter-all", put(ref, ("channels", "camera", "deterrence"), 1),
               refused=False)
    yield case("runs:narrow-clamp", put(ref, ("person_score", "clamp"), [999, 1001]),
               refused=False)
    yield case("runs:wide-clamp", put(ref, ("person_score", "clamp"), [-10**9, 10**9]),
               refused=False)
    yield case("runs:no-lists", {k: v for k, v in put(ref, ("lists",), []).items()
                                 if k not in ("measures", "disclosure")}, refused=False)
    yield case("runs:latest", put(ref, ("person_score", "aggregate"), "latest"), refused=False)
    yield case("runs:no-behaviours", {k: v for k, v in ref.items()
                                      if k not in ("behaviours",)} | {
        "regions": [{"name": "anywhere"}], "channels": {"court": {}},
        "lists": [{"name": "blacklist", "score_below": 750}], "measures": [],
        "disclosure": [], "summary": {}}, refused=False)
    yield case("runs:constant-trait", put(ref, ("population", "person_traits", "risk"),
                                          {"distribution": "constant", "value": 0}),
               refused=False)
    yield case("runs:integral-floats", put(ref, ("person_score", "window_days"), 180.0),
               refused=False)
    yield case("runs:grade-spillover", put(ref, ("measures",), [*ref["measures"], {
        "name": "low_grade_children", "type": "sanction", "service": "school_choice",
        "grades": ["D"], "reaches": "children"}]), refused=False)
    for name in ("seed", "driving-points", "food-hygiene"):
        yield Case(f"runs:{name}-bom", "\ufeff" + scenario_path(name).read_text(
            encoding="utf-8"), False)


def corpus() -> list[Case]:
    out = [*numeric_cases("reference"), *numeric_cases("seed"), *domain_cases(),
           *reference_cases(), *missing_cases("reference"), *missing_cases("seed"),
           *unknown_key_cases("reference"), *unknown_key_cases("driving-points"),
           *structure_cases(), *society_cases(), *review_cases(), many_problems_case(),
           *text_cases(),
           *runs_cases()]
    ids = [c.id for c in out]
    assert len(ids) == len(set(ids)), "case ids are unique"
    return out
