"""The policy format: pydantic models of a whole social credit system.

A policy file is TOML. Every table forbids unknown keys, so a typo is an error that names
the valid keys instead of a silently ignored setting. Every number is finite and lies in
the range where it means something; values used as probabilities are checked where they
are used. Cross-references (a behaviour's channel, a list's trigger, a measure's list)
are checked after the fields themselves (policy/_references.py), and the loader reports
every problem of a file at once.
"""

from __future__ import annotations

import builtins
import math
import re
from collections.abc import Callable
from fractions import Fraction
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

SubjectType = Literal["person", "company"]

# Scores are 32-bit in results: a base, points and bounds this size keep any sum of the
# most records a subject can hold (8,191) inside that range.
MAX_SCORE = 1_000_000_000
MAX_POINTS = 100_000
MAX_DAYS = 36_500  # a window, a listing or a ban of at most 100 years
MAX_COMPANY_KINDS = 62  # a rule's company kinds are bits of one int64
MAX_MEASURES = 62  # per subject type: a state's measures are bits of one int64
MAX_GRADES = 62
MAX_DISCLOSURES = 62
def _integral(value: object) -> object:
    """An integer written as a float with nothing after the point (180.0) is that integer,
    as in JSON Schema; anything else is left for the integer check to refuse."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
        return int(value)
    return value


Int = Annotated[int, BeforeValidator(_integral)]
ScoreValue = Annotated[Int, Field(ge=-MAX_SCORE, le=MAX_SCORE)]
Points = Annotated[Int, Field(ge=-MAX_POINTS, le=MAX_POINTS)]
Threshold = Annotated[Int, Field(ge=-(2**31), le=2**31 - 1)]
Days = Annotated[Int, Field(ge=1, le=MAX_DAYS)]

_NAME = r"^[a-z][a-z0-9_]*$"
Name = Annotated[str, Field(pattern=_NAME, max_length=64)]
# a grade's name is a field name in the metrics and the report: no dots or spaces
GradeName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_+-]*$", max_length=32)]
# text that is printed (a region's name): no control characters, not blank
Label = Annotated[str, Field(
    pattern=r"^[^\x00-\x1f\x7f]*[^\x00-\x20\x7f][^\x00-\x1f\x7f]*$", max_length=64)]
_FRACTION = r"^\s*\d+(\.\d+)?(\s*/\s*\d+(\.\d+)?)?\s*$"

# The facts an audit turns on (socialcredit.audit; EU AI Act Art. 5(1)(c), GDPR Art. 15
# and 22). They change nothing the engine does, and every one has a default that says
# "not stated", so a policy written without them stays valid and its audit says which
# facts are missing.
CONTEXTS = {
    "road_traffic": "driving and the roads",
    "transport": "travel by air, rail and coach: tickets and passengers",
    "finance": "credit, loans, debts and payments",
    "courts": "court judgments and their enforcement",
    "consumption": "shopping, hotels, leisure and purchases",
    "public_order": "conduct in public places",
    "civic_life": "volunteering, donations, awards and civic duties",
    "work": "employment and jobs",
    "education": "schools and universities",
    "online_speech": "what is posted and shared online",
    "telecom": "phones and internet access",
    "public_services": "administration and public services",
    "private_life": "home, family life and pets",
    "health": "health and care",
    "housing": "renting and buying homes",
    "commerce": "companies' dealings with customers and partners",
    "food_safety": "food safety and hygiene",
    "workplace_safety": "safety at work",
    "taxation": "taxes",
    "procurement": "public contracts",
}
"""The domains of life that a channel, behaviour or measure belongs to: a measure whose
context differs from the behaviour behind it is detriment in an unrelated context."""
Context = Literal["road_traffic", "transport", "finance", "courts", "consumption",
                  "public_order", "civic_life", "work", "education", "online_speech",
                  "telecom", "public_services", "private_life", "health", "housing",
                  "commerce", "food_safety", "workplace_safety", "taxation", "procurement"]
GRAVITIES = ("minor", "moderate", "serious", "grave")
"""How grave an act is, lowest first (a behaviour's gravity)."""
Gravity = Literal["minor", "moderate", "serious", "grave"]
SEVERITIES = ("minor", "moderate", "significant", "severe")
"""How heavily a measure weighs on whom it reaches, lowest first; "significant" and
"severe" are the significant effects of GDPR Art. 22. A severity two steps above the
gravity of an act that brings it alone is out of proportion."""
Severity = Literal["minor", "moderate", "significant", "severe"]


def _show(value: object) -> str:
    """A value as the policy file would write it."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    if isinstance(value, float) and math.isinf(value):
        return "infinity" if value > 0 else "-infinity"
    if isinstance(value, dict):
        return "a table"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, str | int | float):
        return repr(value)
    return f"a {type(value).__name__}"


def number(value: object, what: str) -> float:
    """A finite number, or an exact fraction written as a string such as "1/30"."""
    if isinstance(value, str):
        if not re.fullmatch(_FRACTION, value):
            raise ValueError(f"{what} is a number or a fraction like '1/30', got {value!r}")
        try:
            return float(Fraction(value.replace(" ", "")))
        except ZeroDivisionError:
            raise ValueError(f"{what} cannot be {value!r}: a division by zero") from None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{what} is a number, got {_show(value)}")
    x = float(value)
    if not math.isfinite(x):
        raise ValueError(f"{what} is a finite number, got {_show(value)}")
    return x


def _in(lo: float, hi: float, what: str, hi_open: bool = False) -> Callable[[object], float]:
    def check(value: object) -> float:
        x = number(value, what)
        if x < lo or x > hi or (hi_open and x == hi):
            bound = f"[{lo:g}, {hi:g}{')' if hi_open else ']'}"
            raise ValueError(f"{what} must lie in {bound}, got {_show(value)}")
        return x
    return check


def _bounded(lo: float, hi: float, what: str, hi_open: bool = False) -> Any:
    """A float in [lo, hi] (or [lo, hi)), given as a number or a fraction string; its JSON
    Schema says both."""
    number_schema: dict[str, Any] = {"type": "number", "minimum": lo}
    number_schema["exclusiveMaximum" if hi_open else "maximum"] = hi
    return Annotated[float, PlainValidator(_in(lo, hi, what, hi_open)), WithJsonSchema(
        {"anyOf": [number_schema, {"type": "string", "pattern": _FRACTION}],
         "description": f"{what}: a number in [{lo:g}, {hi:g}{')' if hi_open else ']'}"
                        " or a fraction such as \"1/30\""})]


Probability = _bounded(0.0, 1.0, "a probability")
DailyProbability = _bounded(0.0, 1.0, "a daily probability")
Weight = _bounded(0.0, 1e6, "a weight")
PerPerson = _bounded(0.0, 10.0, "companies per person")
Coverage = _bounded(0.0, 1.0, "a coverage")
ChildShare = _bounded(0.0, 1.0, "the share of children", hi_open=True)
Learning = _bounded(0.0, 1.0, "perceived coverage per detection")
Parameter = Annotated[float, Field(gt=0, le=1e6, allow_inf_nan=False)]
_TRAIT_REF = r"^(1-)?[a-z][a-z0-9_]*$"


def _outcome_probability(value: object) -> float | str | None:
    if value is None:
        return None
    if isinstance(value, str) and re.fullmatch(_TRAIT_REF, value):
        return value
    try:
        return _in(0.0, 1.0, "a probability")(value)
    except ValueError as exc:
        raise ValueError(f"{exc}; or name a trait ('compliance_risk') or its complement"
                         " ('1-compliance_risk')") from None


OutcomeProbability = Annotated[float | str | None, PlainValidator(_outcome_probability),
                               WithJsonSchema({"anyOf": [
                                   {"type": "number", "minimum": 0, "maximum": 1},
                                   {"type": "string", "pattern": _TRAIT_REF},
                                   {"type": "string", "pattern": _FRACTION}],
                                   "description": "a probability, or a trait name, or"
                                                  " '1-' and a trait name"})]


class _Strict(BaseModel):
    # strict: a TOML value of the wrong type (true for a number, "5" for an integer, 1.5
    # for a number of days) is refused, never converted
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True,
                              strict=True)


class Meta(_Strict):
    """Who wrote the policy and what it models."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)]
    """the policy's name (lowercase, digits, _ and -)"""
    title: str = ""
    """a title for people"""
    description: str = ""
    """what it models"""
    version: str = "1"
    """its version, named by every decision the service makes"""
    sources: list[str] = Field(default_factory=list)
    """where its facts come from"""


class RunDefaults(_Strict):
    """Sizes used when the command line does not give them, and the policy's seed.

    `seed` keys the policy's random rules (credit repair) in the service, and is the
    simulator's seed when the command line gives none. A record's repair is drawn from
    (seed, its subject's id, its own id), so a service and a simulation with the same
    seed repair the same records."""

    population: Int = Field(100_000, ge=1, le=2_000_000_000)
    """persons, when the command line gives none"""
    days: Int = Field(365, ge=1, le=20_000)
    """days, when the command line gives none"""
    seed: Int = Field(0, ge=0, lt=2**63)
    """the seed of a run, and of the service's random rules (credit repair)"""


class Trait(_Strict):
    """A per-subject multiplier or probability, drawn once when the society is made.

    `lognormal` has mean `mean` (mu = ln(mean) - sigma^2/2); `beta` lies in [0, 1] and
    serves as a probability (a company's compliance risk); `constant` is the same for all.
    """

    distribution: Literal["lognormal", "beta", "constant"]
    """lognormal, beta or constant"""
    sigma: float | None = Field(None, gt=0, le=5, allow_inf_nan=False)
    """lognormal: the spread of its logarithm"""
    mean: Parameter = 1.0
    """lognormal: its mean"""
    a: Parameter | None = None
    """beta: the first shape parameter"""
    b: Parameter | None = None
    """beta: the second shape parameter"""
    value: float | None = Field(None, ge=-1e6, le=1e6, allow_inf_nan=False)
    """constant: the value of every subject"""

    @model_validator(mode="after")
    def _parameters(self) -> Trait:
        need = {"lognormal": ("sigma",), "beta": ("a", "b"), "constant": ("value",)}
        takes = {"lognormal": ("sigma", "mean"), "beta": ("a", "b"), "constant": ("value",)}
        missing = [p for p in need[self.distribution] if getattr(self, p) is None]
        if missing:
            raise ValueError(f"a {self.distribution} trait needs {' and '.join(missing)}")
        defaults = {"mean": 1.0}  # a stored policy (run.json) writes every field
        unused = [p for p in ("sigma", "mean", "a", "b", "value")
                  if p not in takes[self.distribution]
                  and getattr(self, p) not in (None, defaults.get(p))]
        if unused:
            raise ValueError(f"a {self.distribution} trait takes"
                             f" {' and '.join(takes[self.distribution])}, not"
                             f" {' or '.join(unused)}")
        return self

    def lowest(self) -> float:
        """The smallest value a subject can draw."""
        return float(self.value) if self.distribution == "constant" else 0.0  # type: ignore[arg-type]

    def is_probability(self) -> bool:
        """Whether every draw lies in [0, 1]."""
        if self.distribution == "beta":
            return True
        return self.distribution == "constant" and 0.0 <= float(self.value) <= 1.0  # type: ignore[arg-type]

    def describe(self) -> str:
        if self.distribution == "constant":
            return f"constant {self.value:g}"
        if self.distribution == "beta":
            return f"beta({self.a:g}, {self.b:g})"
        return f"lognormal with mean {self.mean:g}, unbounded above"


class CompanyKind(_Strict):
    """A kind of company (restaurant, firm, ...) and its share of companies."""

    name: Name
    """the kind's name"""
    share: Probability


DEFAULT_BLOCK = 1 << 22  # 4,194,304


class Population(_Strict):
    """How the synthetic society is made."""

    child_share: ChildShare = 0.2
    """the share of persons who are children (each linked to a guardian): below 1"""
    companies_per_person: PerPerson = 0.05
    """companies in the society per person"""
    person_traits: dict[Name, Trait] = Field(default_factory=dict)
    """per-person multipliers or probabilities, by name"""
    company_traits: dict[Name, Trait] = Field(default_factory=dict)
    """per-company multipliers or probabilities, by name"""
    company_kinds: list[CompanyKind] = Field(
        default_factory=lambda: [CompanyKind(name="firm", share=1.0)], min_length=1,
        max_length=MAX_COMPANY_KINDS,
    )
    """the kinds of company and their shares (adding up to 1)"""
    block: Int = Field(DEFAULT_BLOCK, ge=100, le=1 << 30)
    """subjects of each type per block of the society (neighbourhoods): a child's guardian
    and a misattributed record's target are drawn from the same city within the block,
    and blocks run independently (shards). A society of at most this many subjects is one
    block"""

    @field_validator("company_kinds")
    @classmethod
    def _shares(cls, kinds: list[CompanyKind]) -> list[CompanyKind]:
        total = sum(k.share for k in kinds)
        if abs(total - 1.0) > 1e-9:
            raise ValueError(f"company kind shares must add up to 1, they add up to {total:g}")
        _unique([k.name for k in kinds], "company kind")
        return kinds


class Region(_Strict):
    """A city or region: its share of people, its sensor coverage, and when it joins."""

    name: Label
    """its name"""
    weight: Weight = 1.0
    """its share of people, relative to the other regions' weights"""
    coverage: dict[Name, Coverage] = Field(default_factory=dict)
    """coverage by name (e.g. camera = 0.3), read by the channels that name it"""
    joins_day: Int = Field(0, ge=0, le=20_000)
    """the day it joins the system (rollout): no records before"""


class FalsePositive(_Strict):
    """Records a channel makes about subjects who did nothing: per subject and day."""

    rate: Probability
    """the probability, per subject and day, of a false record"""
    kind: Name
    """the record kind it makes"""


class Channel(_Strict):
    """A surveillance or records channel, modelled statistically (no real sensor).

    An act is detected with probability `detection` times the region's coverage named
    by `coverage` (1 when absent). A detected act is misattributed with probability
    `misattribution` to another subject of the same type in the same region, drawn
    uniformly. Being watched deters: acts on this channel happen at their rate times
    (1 - deterrence * coverage). With `learning` > 0 a subject's own detections raise
    their perceived coverage by that much each (experimental). In the service, a record
    from this channel with a confidence below `review_below_confidence` waits for a human
    reviewer and counts only once confirmed.
    """

    detection: Probability = 1.0
    """the probability that an act is recorded (times coverage, if any)"""
    coverage: Name | None = None
    """the name of the regions' coverage that multiplies detection"""
    misattribution: Probability = 0.0
    """the probability that a recorded act is recorded against another subject"""
    misattribution_target: Literal["same_region"] = "same_region"
    """who a misattributed record falls on (same_region)"""
    deterrence: Probability = 0.0
    """acts fall by deterrence x coverage where watched"""
    learning: Learning = 0.0
    """(experimental) perceived coverage gained per own detection"""
    false_positive: FalsePositive | None = None
    """records about subjects who did nothing"""
    automated: bool = False
    """records come from an automated system (cameras read by AI, ...)"""
    review_below_confidence: Probability | None = None
    """service: a record with a lower confidence waits for a human reviewer"""
    context: Context | None = None
    """audit: the domain of life where its records are collected (transport, finance,
    ...); its behaviours' context unless they give their own"""
    counts_before_review: bool = True
    """audit: a record counts as soon as it is made; false when a person confirms every
    record before it counts (GDPR Art. 22)"""
    visible_to_subject: bool = True
    """audit: subjects can see their records from this channel; false for a secret
    dossier (GDPR Art. 15)"""
    description: str = ""
    """free text"""


class Outcome(_Strict):
    """One outcome of an act. `probability` is a number, a trait name, or '1-trait'.

    Outcomes are tried in order: each is chosen with its probability given that none
    before it was; the last one takes what remains and needs no probability.
    """

    name: Name
    """the record kind this outcome makes"""
    points: Points
    """the points of its record"""
    probability: OutcomeProbability = None
    kind: Literal["merit", "violation"] = "violation"
    """merit or violation"""


class Behaviour(_Strict):
    """Something a subject does, how often, what it is worth and who sees it."""

    name: Name
    """its name (and the record kind it makes, with points)"""
    subject: SubjectType = "person"
    """person or company"""
    kind: Literal["merit", "violation"] | None = None
    """with points: merit or violation"""
    rate: DailyProbability
    """the probability, per subject and day, of an act (before its multiplier)"""
    multiplier: Name | None = None
    """a trait that multiplies the rate (0 or more)"""
    points: Points | None = None
    """the points of its record (or give outcomes)"""
    outcomes: list[Outcome] | None = None
    """the record kinds an act can make, tried in order (or give points)"""
    channel: Name
    """the channel that records it"""
    company_kinds: list[Name] | None = Field(None, min_length=1)
    """company behaviours: the kinds of company that have it (default: all)"""
    context: Context | None = None
    """audit: the domain of life of the act (default: its channel's context)"""
    gravity: Gravity | None = None
    """audit: how grave a violation is: minor, moderate, serious or grave"""
    description: str = ""
    """free text"""

    @model_validator(mode="after")
    def _points_or_outcomes(self) -> Behaviour:
        if (self.points is None) == (self.outcomes is None):
            raise ValueError("give either 'points' (one outcome) or 'outcomes', not both")
        if self.outcomes is not None:
            if len(self.outcomes) < 2:
                raise ValueError("'outcomes' needs at least two entries (use 'points' for one)")
            if self.outcomes[-1].probability is not None:
                raise ValueError("the last outcome takes the remaining probability: omit it")
            if any(o.probability is None for o in self.outcomes[:-1]):
                raise ValueError("every outcome but the last needs a probability")
            _unique([o.name for o in self.outcomes], "outcome")
        elif self.kind is None:
            raise ValueError("a behaviour with 'points' needs kind = 'merit' or 'violation'")
        if self.company_kinds is not None and self.subject != "company":
            raise ValueError("'company_kinds' applies to company behaviours only")
        if self.gravity is not None and self.outcomes is None and self.kind == "merit":
            raise ValueError("'gravity' says how grave a violation is: a merit has none")
        return self

    def record_kinds(self) -> list[tuple[str, int, str, str | float | None]]:
        """The kinds of record this behaviour makes: (name, points, class, probability)."""
        if self.outcomes is None:
            return [(self.name, int(self.points or 0), self.kind or "violation", None)]
        return [(o.name, o.points, o.kind, o.probability) for o in self.outcomes]


class Grade(_Strict):
    name: GradeName
    """the grade's name (letters, digits, _, + and -)"""
    min: Threshold | None = None
    """the lowest score in this grade (the last grade has none)"""


class Score(_Strict):
    """How records become a score, and the score a grade.

    `aggregate = "sum"`: base plus the points of the records of the last `window_days`.
    `aggregate = "latest"`: the points of the newest record of the window, or the base.
    Grades are listed from the highest; each has a `min`, but the last has none.
    """

    base: ScoreValue
    """the score with no record"""
    window_days: Days
    """a record of day s counts on days s .. s + window_days - 1"""
    aggregate: Literal["sum", "latest"] = "sum"
    """sum: base + points in the window; latest: the newest record's points"""
    clamp: Annotated[list[ScoreValue], Field(min_length=2, max_length=2)] | None = None
    """[low, high]: the score never leaves it"""
    grades: list[Grade] = Field(min_length=1, max_length=MAX_GRADES)
    """from the highest; each has a min but the last"""

    @model_validator(mode="after")
    def _bands(self) -> Score:
        *banded, last = self.grades
        if last.min is not None:
            raise ValueError(f"the lowest grade ({last.name!r}) takes everything below: omit 'min'")
        for g in banded:
            if g.min is None:
                raise ValueError(f"grade {g.name!r} needs 'min' (only the lowest grade has none)")
        mins = [g.min for g in banded]
        if any(a <= b for a, b in zip(mins, mins[1:], strict=False)):
            listed = ", ".join(f"{g.name}>={g.min}" for g in banded)
            raise ValueError(
                f"grade bands out of order: list grades from highest to lowest with strictly"
                f" falling 'min' values (got {listed})"
            )
        _unique([g.name for g in self.grades], "grade")
        if self.clamp is not None and self.clamp[0] > self.clamp[1]:
            raise ValueError(f"clamp must be [low, high] with low <= high, got {list(self.clamp)}")
        if self.clamp is not None and not self.clamp[0] <= self.base <= self.clamp[1]:
            raise ValueError(f"the base ({self.base}) lies outside the clamp {list(self.clamp)}:"
                             " a subject with no record would not have it")
        return self

    def grade_names(self) -> list[str]:
        return [g.name for g in self.grades]


class Trigger(_Strict):
    """A record that lists its subject for a fixed time whatever the score."""

    kind: Name
    """the record kind that lists"""
    days: Days
    """how long it lists, from the record's day"""
    repair_after_days: Days | None = None
    """credit repair: the listing's length for those repaired"""
    repair_probability: Probability = 0.0
    """credit repair: the probability a listed subject is repaired"""

    @model_validator(mode="after")
    def _repair(self) -> Trigger:
        if self.repair_probability > 0 and self.repair_after_days is None:
            raise ValueError("repair_probability needs repair_after_days")
        if self.repair_after_days is not None and self.repair_after_days > self.days:
            raise ValueError("repair_after_days cannot exceed days")
        return self


class ListRule(_Strict):
    """A blacklist or redlist: score thresholds, event triggers and credit repair.

    A subject is on the list when its score is below `score_below` (or at least
    `score_at_least`), or a trigger record lists it, unless it is on a list named in
    `excludes`. With `duration_days`, entering by score starts a ban of that length;
    with `clear_points`, entering wipes the points that led there (a totting-up ban).
    """

    name: Name
    """its name"""
    label: Name | None = None
    """the word in summaries (default: the name + 'ed')"""
    subject: SubjectType = "person"
    """person or company"""
    type: Literal["black", "red"] = "black"
    """black (a sanction list) or red (a privilege list)"""
    score_below: Threshold | None = None
    """on the list while the score is below this"""
    score_at_least: Threshold | None = None
    """on the list while the score is at least this"""
    triggers: list[Trigger] = Field(default_factory=list)
    """records that list their subject for a time, whatever the score"""
    excludes: list[Name] = Field(default_factory=list)
    """lists defined earlier that keep a subject off this one"""
    duration_days: Days | None = None
    """entering by score starts a ban of this length"""
    clear_points: bool = False
    """entering wipes the points that led there (needs duration_days)"""
    appeal: str = ""
    """audit: how a listed subject contests the listing (the body and the procedure);
    empty: no appeal path"""
    description: str = ""
    """free text"""

    @model_validator(mode="after")
    def _condition(self) -> ListRule:
        if self.score_below is not None and self.score_at_least is not None:
            raise ValueError("give score_below or score_at_least, not both")
        if self.score_below is None and self.score_at_least is None and not self.triggers:
            raise ValueError("a list needs score_below, score_at_least or triggers")
        if self.clear_points and self.duration_days is None:
            raise ValueError("clear_points needs duration_days (the ban that replaces them)")
        _unique([t.kind for t in self.triggers], "trigger of kind")
        return self

    @property
    def adjective(self) -> str:
        """The word used in summaries: 'blacklist' -> 'blacklisted'."""
        return self.label or (self.name + "ed")


class Measure(_Strict):
    """A sanction or privilege, with the rule that brings it and its legal basis.

    It applies to subjects on `list`, or in one of `grades`. With
    reaches = "children" it falls on the children of such subjects (spillover).
    """

    name: Name
    """its name"""
    type: Literal["sanction", "privilege"]
    """sanction or privilege"""
    subject: SubjectType = "person"
    """person or company"""
    service: Name | None = None
    """the service a gatekeeper asks about (flight, school_choice, ...)"""
    list: Name | None = None
    """it applies to subjects on this list (or give grades)"""
    grades: builtins.list[str] | None = Field(None, min_length=1)
    """it applies to subjects in these grades (or give list)"""
    reaches: Literal["self", "children"] = "self"
    """children: it falls on the children of the subjects it applies to"""
    legal_basis: str = ""
    """the law or rule it rests on, shown with each decision"""
    context: Context | None = None
    """audit: the domain of life of the service it gates (transport, education, ...)"""
    severity: Severity | None = None
    """audit: how heavily it weighs: minor, moderate, significant or severe"""
    description: str = ""
    """free text"""

    @model_validator(mode="after")
    def _rule(self) -> Measure:
        if (self.list is None) == (self.grades is None):
            raise ValueError("a measure needs either 'list' or 'grades', not both")
        if self.reaches == "children" and self.subject != "person":
            raise ValueError("only person measures can reach children")
        return self


DISCLOSURE_FIELDS = {
    "name": "the subject's id",
    "reason": "the rule that publishes them (the list or the grade, and why)",
    "score": "their score",
    "grade": "their grade",
    "lists": "the published lists they are on",
    "listed_until": "the last day of each published listing",
    "evidence": "the evidence of the records behind a published listing",
    "record_date": "the date of their newest record that counts",
}
DisclosureField = Literal["name", "reason", "score", "grade", "lists", "listed_until",
                          "evidence", "record_date"]


class Disclosure(_Strict):
    """What is published about whom: subjects on `list` or in one of `grades` (of the
    `company_kinds`, for companies), with the `fields` named (see DISCLOSURE_FIELDS).
    Nothing else about them is shown."""

    subject: SubjectType = "person"
    """person or company"""
    list: Name | None = None
    """publish subjects on this list (or give grades)"""
    grades: builtins.list[str] | None = Field(None, min_length=1)
    """publish subjects in these grades (or give list)"""
    company_kinds: builtins.list[Name] | None = Field(None, min_length=1)
    """companies: only these kinds (default: all)"""
    fields: builtins.list[DisclosureField] = Field(default_factory=lambda: ["name", "reason"],
                                                   min_length=1)
    """what is shown of each: name, reason, score, grade, lists, listed_until, evidence,
    record_date"""
    appeal: str = ""
    """audit: how a published subject contests the publication; empty: no appeal path"""

    @model_validator(mode="after")
    def _rule(self) -> Disclosure:
        if (self.list is None) == (self.grades is None):
            raise ValueError("a disclosure rule needs either 'list' or 'grades', not both")
        if self.company_kinds is not None and self.subject != "company":
            raise ValueError("'company_kinds' applies to company disclosure rules only")
        _unique(self.fields, "field")
        return self


class Companies(_Strict):
    """Consequences of a company's grade."""

    tax_multiplier: dict[str, Annotated[float, Field(gt=0, le=100, allow_inf_nan=False)]] = (
        Field(default_factory=dict))
    """by company grade: the tax rate relative to the standard one (default 1)"""
    procurement_excluded_grades: list[str] = Field(default_factory=list)
    """company grades that may not bid for public work"""


class ExtraShare(_Strict):
    """An extra summary share: the companies of one kind in one grade."""

    name: Name
    """its key in summary.json"""
    company_kind: Name
    """the kind of company it counts"""
    grade: str
    """the company grade it counts"""


class Summary(_Strict):
    extra_company_grade_shares: list[ExtraShare] = Field(default_factory=list)
    """more statistics: companies of a kind in a grade"""


class Policy(_Strict):
    """A whole social credit system. Load one with `load_policy`."""

    meta: Meta
    """who wrote it and what it models"""
    run: RunDefaults = RunDefaults()
    """default sizes and the seed"""
    population: Population = Population()
    """how the synthetic society is made"""
    regions: list[Region] = Field(min_length=1, max_length=4096)
    """cities or regions: share of people, coverage, rollout"""
    channels: dict[Name, Channel] = Field(min_length=1)
    """the channels that record acts, by name"""
    behaviours: list[Behaviour] = Field(default_factory=list)
    """what subjects do, and what it is worth"""
    person_score: Score | None = None
    """how persons' records become a score and a grade"""
    company_score: Score | None = None
    """how companies' records become a score and a grade"""
    lists: list[ListRule] = Field(default_factory=list, max_length=16)
    """blacklists and redlists"""
    measures: list[Measure] = Field(default_factory=list)
    """sanctions and privileges"""
    disclosure: list[Disclosure] = Field(default_factory=list)
    """what is published about whom"""
    companies: Companies = Companies()
    """what a company's grade brings"""
    summary: Summary = Summary()
    """extra statistics"""

    def with_overrides(self, overrides: dict[str, Any]) -> Policy:
        """A new validated policy with the values at dotted paths replaced, as
        `simulate --set` does (policy/_overrides.py says how paths are written).

        >>> from socialcredit.scenarios import load_scenario
        >>> p = load_scenario("reference").with_overrides(
        ...     {"channels.camera.misattribution": 0.05, "lists.blacklist.score_below": 700})
        >>> p.channels["camera"].misattribution, p.lists[0].score_below
        (0.05, 700)
        """
        from socialcredit.policy._overrides import apply_overrides

        return apply_overrides(self, overrides)

    @model_validator(mode="after")
    def _references(self, info: ValidationInfo) -> Policy:
        """Cross-references and the domains where values are used (policy/_references.py).
        The loader checks them itself, with the fields, to report every problem at once."""
        if info.context and info.context.get("references") is False:
            return self
        from socialcredit.policy._references import dotted, parts_of, problems

        found = problems(self.model_dump(), parts_of(self))
        if found:
            raise ValueError("; ".join(f"{dotted(loc)}: {msg}" for loc, msg in found))
        return self

    def list_names(self, subject: str) -> list[str]:
        return [x.name for x in self.lists if x.subject == subject]


def _unique(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ValueError(f"{what} {n!r} is defined twice")
        seen.add(n)
