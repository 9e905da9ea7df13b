"""The policy format: pydantic models of a whole social credit system.

A policy file is TOML. Every table forbids unknown keys, so a typo is an error that names
the valid keys instead of a silently ignored setting. Cross-references (a behaviour's
channel, a list's trigger, a measure's list) are checked after the fields themselves.
"""

from __future__ import annotations

import builtins
import re
from fractions import Fraction
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
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
ScoreValue = Annotated[int, Field(ge=-MAX_SCORE, le=MAX_SCORE)]
Points = Annotated[int, Field(ge=-MAX_POINTS, le=MAX_POINTS)]
Threshold = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]
# summary.json keys the engine writes itself; a list's label or an extra share may not
# take one of them (or each other's)
SUMMARY_KEYS = ("mean_score", "grades", "children_restricted", "records_per_adult",
                "false_record_share", "company_grades", "mean_tax_multiplier")

_NAME = r"^[a-z][a-z0-9_]*$"
Name = Annotated[str, Field(pattern=_NAME, max_length=64)]


def _rate(value: object) -> object:
    """Accept a number or an exact fraction written as a string, such as "1/30"."""
    if isinstance(value, str):
        text = value.strip()
        if not re.fullmatch(r"\d+(\.\d+)?(\s*/\s*\d+(\.\d+)?)?", text):
            raise ValueError(f"expected a number or a fraction like '1/30', got {value!r}")
        try:
            return float(Fraction(text.replace(" ", "")))
        except ZeroDivisionError as exc:
            raise ValueError(f"division by zero in {value!r}") from exc
    return value


Rate = Annotated[float, BeforeValidator(_rate), Field(ge=0.0, allow_inf_nan=False)]
Probability = Annotated[float, BeforeValidator(_rate), Field(ge=0.0, le=1.0, allow_inf_nan=False)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class Meta(_Strict):
    """Who wrote the policy and what it models."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]*$", max_length=64)]
    title: str = ""
    description: str = ""
    version: str = "1"
    sources: list[str] = Field(default_factory=list)


class RunDefaults(_Strict):
    """Sizes used when the command line does not give them, and the policy's seed.

    `seed` keys the policy's random rules (credit repair) in the service, and is the
    simulator's seed when the command line gives none. A record's repair is drawn from
    (seed, its subject's id, its own id), so a service and a simulation with the same
    seed repair the same records."""

    population: int = Field(100_000, ge=1, le=2_000_000_000)
    days: int = Field(365, ge=1, le=20_000)
    seed: int = Field(0, ge=0, lt=2**63)


class Trait(_Strict):
    """A per-subject multiplier or probability, drawn once when the society is made.

    `lognormal` has mean `mean` (mu = ln(mean) - sigma^2/2); `beta` lies in [0, 1] and
    serves as a probability (a company's compliance risk); `constant` is the same for all.
    """

    distribution: Literal["lognormal", "beta", "constant"]
    sigma: float | None = Field(None, gt=0, le=5)
    mean: float = Field(1.0, gt=0)
    a: float | None = Field(None, gt=0)
    b: float | None = Field(None, gt=0)
    value: float | None = None

    @model_validator(mode="after")
    def _parameters(self) -> Trait:
        need = {"lognormal": ("sigma",), "beta": ("a", "b"), "constant": ("value",)}
        missing = [p for p in need[self.distribution] if getattr(self, p) is None]
        if missing:
            raise ValueError(
                f"a {self.distribution} trait needs {', '.join(missing)}"
                f" (it takes {', '.join(need[self.distribution])})"
            )
        return self


class CompanyKind(_Strict):
    name: Name
    share: Probability


class Population(_Strict):
    """How the synthetic society is made."""

    child_share: Probability = 0.2
    companies_per_person: Rate = 0.05
    person_traits: dict[Name, Trait] = Field(default_factory=dict)
    company_traits: dict[Name, Trait] = Field(default_factory=dict)
    company_kinds: list[CompanyKind] = Field(
        default_factory=lambda: [CompanyKind(name="firm", share=1.0)], min_length=1,
        max_length=MAX_COMPANY_KINDS,
    )

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

    name: str = Field(min_length=1, max_length=64)
    weight: Rate = 1.0
    coverage: dict[Name, Probability] = Field(default_factory=dict)
    joins_day: int = Field(0, ge=0)


class FalsePositive(_Strict):
    """Records a channel makes about subjects who did nothing: per subject and day."""

    rate: Probability
    kind: Name


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
    coverage: Name | None = None
    misattribution: Probability = 0.0
    misattribution_target: Literal["same_region"] = "same_region"
    deterrence: Probability = 0.0
    learning: Rate = 0.0
    false_positive: FalsePositive | None = None
    automated: bool = False
    review_below_confidence: Probability | None = None
    description: str = ""


class Outcome(_Strict):
    """One outcome of an act. `probability` is a number, a trait name, or '1-trait'.

    Outcomes are tried in order: each is chosen with its probability given that none
    before it was; the last one takes what remains and needs no probability.
    """

    name: Name
    points: Points
    probability: Probability | Annotated[str, Field(pattern=r"^(1-)?[a-z][a-z0-9_]*$")] | None = (
        None
    )
    kind: Literal["merit", "violation"] = "violation"


class Behaviour(_Strict):
    """Something a subject does, how often, what it is worth and who sees it."""

    name: Name
    subject: SubjectType = "person"
    kind: Literal["merit", "violation"] | None = None
    rate: Rate
    multiplier: Name | None = None
    points: Points | None = None
    outcomes: list[Outcome] | None = None
    channel: Name
    company_kinds: list[Name] | None = Field(None, min_length=1)
    description: str = ""

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
        return self

    def record_kinds(self) -> list[tuple[str, int, str, str | float | None]]:
        """The kinds of record this behaviour makes: (name, points, class, probability)."""
        if self.outcomes is None:
            return [(self.name, int(self.points or 0), self.kind or "violation", None)]
        return [(o.name, o.points, o.kind, o.probability) for o in self.outcomes]


MAX_MEASURES = 62  # per subject type: a state's measures are bits of one int64
MAX_GRADES = 62
MAX_DISCLOSURES = 62


class Grade(_Strict):
    name: str = Field(min_length=1, max_length=32)
    min: Threshold | None = None


class Score(_Strict):
    """How records become a score, and the score a grade.

    `aggregate = "sum"`: base plus the points of the records of the last `window_days`.
    `aggregate = "latest"`: the points of the newest record of the window, or the base.
    Grades are listed from the highest; each has a `min`, but the last has none.
    """

    base: ScoreValue
    window_days: int = Field(ge=1, le=MAX_DAYS)
    aggregate: Literal["sum", "latest"] = "sum"
    clamp: tuple[ScoreValue, ScoreValue] | None = None
    grades: list[Grade] = Field(min_length=1, max_length=MAX_GRADES)

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
        return self

    def grade_names(self) -> list[str]:
        return [g.name for g in self.grades]


class Trigger(_Strict):
    """A record that lists its subject for a fixed time whatever the score."""

    kind: Name
    days: int = Field(ge=1, le=MAX_DAYS)
    repair_after_days: int | None = Field(None, ge=1, le=MAX_DAYS)
    repair_probability: Probability = 0.0

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
    label: Name | None = None
    subject: SubjectType = "person"
    type: Literal["black", "red"] = "black"
    score_below: Threshold | None = None
    score_at_least: Threshold | None = None
    triggers: list[Trigger] = Field(default_factory=list)
    excludes: list[Name] = Field(default_factory=list)
    duration_days: int | None = Field(None, ge=1, le=MAX_DAYS)
    clear_points: bool = False
    description: str = ""

    @model_validator(mode="after")
    def _condition(self) -> ListRule:
        if self.score_below is not None and self.score_at_least is not None:
            raise ValueError("give score_below or score_at_least, not both")
        if self.score_below is None and self.score_at_least is None and not self.triggers:
            raise ValueError("a list needs score_below, score_at_least or triggers")
        if self.clear_points and self.duration_days is None:
            raise ValueError("clear_points needs duration_days (the ban that replaces them)")
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
    type: Literal["sanction", "privilege"]
    subject: SubjectType = "person"
    service: Name | None = None
    list: Name | None = None
    grades: builtins.list[str] | None = None
    reaches: Literal["self", "children"] = "self"
    legal_basis: str = ""
    description: str = ""

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
    list: Name | None = None
    grades: builtins.list[str] | None = None
    company_kinds: builtins.list[Name] | None = Field(None, min_length=1)
    fields: builtins.list[DisclosureField] = Field(default_factory=lambda: ["name", "reason"],
                                                   min_length=1)

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
    procurement_excluded_grades: list[str] = Field(default_factory=list)


class ExtraShare(_Strict):
    """An extra summary share: the companies of one kind in one grade."""

    name: Name
    company_kind: Name
    grade: str


class Summary(_Strict):
    extra_company_grade_shares: list[ExtraShare] = Field(default_factory=list)


class Policy(_Strict):
    """A whole social credit system. Load one with `load_policy`."""

    meta: Meta
    run: RunDefaults = RunDefaults()
    population: Population = Population()
    regions: list[Region] = Field(min_length=1, max_length=4096)
    channels: dict[Name, Channel] = Field(min_length=1)
    behaviours: list[Behaviour] = Field(default_factory=list)
    person_score: Score | None = None
    company_score: Score | None = None
    lists: list[ListRule] = Field(default_factory=list, max_length=16)
    measures: list[Measure] = Field(default_factory=list)
    disclosure: list[Disclosure] = Field(default_factory=list)
    companies: Companies = Companies()
    summary: Summary = Summary()

    @model_validator(mode="after")
    def _references(self) -> Policy:  # noqa: C901 - one place for every cross-reference
        _unique([b.name for b in self.behaviours], "behaviour")
        _unique([r.name for r in self.regions], "region")
        _unique([x.name for x in self.lists], "list")
        _unique([m.name for m in self.measures], "measure")
        kinds: dict[str, str] = {}
        for b in self.behaviours:
            if b.channel not in self.channels:
                raise ValueError(
                    f"behaviour {b.name!r}: unknown channel {b.channel!r};"
                    f" defined channels are {_names(self.channels)}"
                )
            traits = self.population.person_traits if b.subject == "person" else (
                self.population.company_traits
            )
            if b.multiplier is not None and b.multiplier not in traits:
                raise ValueError(
                    f"behaviour {b.name!r}: unknown {b.subject} trait {b.multiplier!r};"
                    f" defined traits are {_names(traits)}"
                )
            for kind, _points, _cls, prob in b.record_kinds():
                if isinstance(prob, str) and prob.removeprefix("1-") not in traits:
                    raise ValueError(
                        f"behaviour {b.name!r}: outcome {kind!r} uses unknown trait"
                        f" {prob.removeprefix('1-')!r}; defined traits are {_names(traits)}"
                    )
                if kind in kinds:
                    raise ValueError(f"record kind {kind!r} is made by two behaviours")
                kinds[kind] = b.subject
            if b.company_kinds:
                known = [k.name for k in self.population.company_kinds]
                for k in b.company_kinds:
                    if k not in known:
                        raise ValueError(
                            f"behaviour {b.name!r}: unknown company kind {k!r}; kinds are {known}"
                        )
            score = self.person_score if b.subject == "person" else self.company_score
            if score is None:
                raise ValueError(
                    f"behaviour {b.name!r} is a {b.subject} behaviour but there is no"
                    f" [{b.subject}_score] table"
                )
        for name, ch in self.channels.items():
            if ch.coverage is not None:
                for r in self.regions:
                    if ch.coverage not in r.coverage:
                        raise ValueError(
                            f"channel {name!r} uses coverage {ch.coverage!r}, which region"
                            f" {r.name!r} does not define (it defines {_names(r.coverage)})"
                        )
            if ch.false_positive is not None and ch.false_positive.kind not in kinds:
                raise ValueError(
                    f"channel {name!r}: false_positive kind {ch.false_positive.kind!r} is not"
                    f" a record kind; known kinds are {_names(kinds)}"
                )
        list_subject = {x.name: x.subject for x in self.lists}
        for i, x in enumerate(self.lists):
            if (self.person_score if x.subject == "person" else self.company_score) is None:
                raise ValueError(f"list {x.name!r} needs a [{x.subject}_score] table")
            for t in x.triggers:
                if t.kind not in kinds:
                    raise ValueError(
                        f"list {x.name!r}: trigger kind {t.kind!r} is not a record kind;"
                        f" known kinds are {_names(kinds)}"
                    )
                if kinds[t.kind] != x.subject:
                    raise ValueError(f"list {x.name!r}: trigger kind {t.kind!r} is not a"
                                     f" {x.subject} record")
            earlier = {y.name for y in self.lists[:i] if y.subject == x.subject}
            for e in x.excludes:
                if e not in earlier:
                    raise ValueError(
                        f"list {x.name!r} excludes {e!r}, which must be a {x.subject} list"
                        f" defined before it (defined before: {sorted(earlier) or 'none'})"
                    )
        for subject in ("person", "company"):
            n_measures = sum(m.subject == subject for m in self.measures)
            if n_measures > MAX_MEASURES:
                raise ValueError(f"{n_measures} {subject} measures: at most {MAX_MEASURES}"
                                 " per subject type")
            n_rules = sum(d.subject == subject for d in self.disclosure)
            if n_rules > MAX_DISCLOSURES:
                raise ValueError(f"{n_rules} {subject} disclosure rules: at most"
                                 f" {MAX_DISCLOSURES} per subject type")
        triggered = [t.kind for x in self.lists for t in x.triggers]
        if len(set(triggered)) != len(triggered):
            raise ValueError("a record kind may trigger one list only")
        for m in [*self.measures, *self.disclosure]:
            what = f"measure {m.name!r}" if isinstance(m, Measure) else "disclosure rule"
            if m.list is not None and list_subject.get(m.list) != m.subject:
                raise ValueError(
                    f"{what}: {m.list!r} is not a {m.subject} list; {m.subject} lists are"
                    f" {[n for n, s in list_subject.items() if s == m.subject]}"
                )
            if m.grades is not None:
                self._check_grades(m.subject, m.grades, what)
            if isinstance(m, Disclosure) and m.company_kinds:
                known = [k.name for k in self.population.company_kinds]
                for k in m.company_kinds:
                    if k not in known:
                        raise ValueError(f"{what}: unknown company kind {k!r}; kinds are"
                                         f" {known}")
        grade_names = self.company_score.grade_names() if self.company_score else []
        for g in [*self.companies.tax_multiplier, *self.companies.procurement_excluded_grades]:
            if g not in grade_names:
                raise ValueError(f"[companies]: unknown company grade {g!r}; grades are"
                                 f" {grade_names}")
        self._summary_keys()
        for extra in self.summary.extra_company_grade_shares:
            self._check_grades("company", [extra.grade], f"summary share {extra.name!r}")
            known = [k.name for k in self.population.company_kinds]
            if extra.company_kind not in known:
                raise ValueError(f"summary share {extra.name!r}: unknown company kind"
                                 f" {extra.company_kind!r}; kinds are {known}")
        return self

    def _summary_keys(self) -> None:
        """Every statistic of summary.json has its own key: a list's label (and the
        keys made from it) or an extra share may not overwrite another."""
        owner: dict[str, str] = {k: "a built-in statistic" for k in SUMMARY_KEYS}
        made = []
        for x in self.lists:
            if x.subject == "person":
                made += [(x.adjective, f"list {x.name!r}")]
                if x.type == "black":
                    made += [(f"wrongfully_{x.adjective}", f"list {x.name!r}"),
                             (f"ever_{x.adjective}", f"list {x.name!r}")]
            else:
                made += [(f"companies_{x.adjective}", f"list {x.name!r}")]
        made += [(e.name, f"summary share {e.name!r}")
                 for e in self.summary.extra_company_grade_shares]
        for key, what in made:
            if key in owner:
                raise ValueError(f"{what} would write the summary statistic {key!r}, which"
                                 f" {owner[key]} writes: give it another label or name")
            owner[key] = what

    def _check_grades(self, subject: str, grades: list[str], what: str) -> None:
        score = self.person_score if subject == "person" else self.company_score
        known = score.grade_names() if score else []
        for g in grades:
            if g not in known:
                raise ValueError(f"{what}: unknown {subject} grade {g!r}; grades are {known}")

    def list_names(self, subject: str) -> list[str]:
        return [x.name for x in self.lists if x.subject == subject]


def _unique(names: list[str], what: str) -> None:
    seen: set[str] = set()
    for n in names:
        if n in seen:
            raise ValueError(f"{what} {n!r} is defined twice")
        seen.add(n)


def _names(mapping: object) -> str:
    keys = sorted(mapping) if mapping else []  # type: ignore[call-overload]
    return ", ".join(repr(k) for k in keys) if keys else "none"
