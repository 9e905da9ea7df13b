from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import special

from socialcredit.policy import Policy
from socialcredit.policy._model import Trait
from socialcredit.rng import uniforms

PERSON = 0
COMPANY = 1


@dataclass(frozen=True)
class Population:
    """A society as a struct of arrays; index i is subject i of its type.

    Persons: `person_region`, `is_child`, `guardian` (-1 for adults), `n_children`,
    `person_traits` (one row per trait, in policy order). Companies: `company_region`,
    `company_kind`, `company_traits`. No Python object exists per subject.
    """

    seed: int
    person_region: np.ndarray
    is_child: np.ndarray
    guardian: np.ndarray
    n_children: np.ndarray
    person_traits: np.ndarray
    company_region: np.ndarray
    company_kind: np.ndarray
    company_traits: np.ndarray

    @property
    def n_persons(self) -> int:
        return int(self.person_region.shape[0])

    @property
    def n_companies(self) -> int:
        return int(self.company_region.shape[0])

    @property
    def n_adults(self) -> int:
        return self.n_persons - int(self.is_child.sum())

    def nbytes(self) -> int:
        return sum(getattr(self, f).nbytes for f in self.__dataclass_fields__ if f != "seed")


def n_companies_for(policy: Policy, n_persons: int) -> int:
    # Python's round(), as the reference text says "M = round(N / 20)".
    return int(round(n_persons * policy.population.companies_per_person))


def build_population(policy: Policy, n_persons: int, seed: int) -> Population:
    """Draw the society of `n_persons` for `policy` from `seed`.

    Every attribute comes from its own named stream keyed by subject index, so the
    society depends only on the seed and the population section and regions' weights:
    two policies that share those share the society, person for person.
    """
    pop = policy.population
    n_regions = len(policy.regions)
    weights = np.array([r.weight for r in policy.regions], dtype=np.float64)
    region_dtype = np.uint8 if n_regions <= 256 else np.uint16

    person_region = _pick(uniforms(seed, PERSON, "population:region", 0, n_persons), weights)
    person_region = person_region.astype(region_dtype)
    is_child = uniforms(seed, PERSON, "population:child", 0, n_persons) < pop.child_share

    guardian = np.full(n_persons, -1, dtype=np.int32)
    adults = np.flatnonzero(~is_child).astype(np.int32)
    order = np.argsort(person_region[adults], kind="stable")
    pool = adults[order]
    counts = np.bincount(person_region[adults], minlength=n_regions)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    children = np.flatnonzero(is_child)
    if children.size:
        u = uniforms(seed, PERSON, "population:guardian", 0, n_persons)[children]
        r = person_region[children].astype(np.int64)
        n_r = counts[r]
        pick = offsets[r] + np.minimum((u * n_r).astype(np.int64), np.maximum(n_r - 1, 0))
        has = n_r > 0
        guardian[children[has]] = pool[pick[has]]
        # a child of a region with no adult (a tiny or child-heavy society) takes a
        # guardian from anywhere, with the same draw
        alone = ~has & (adults.size > 0)
        guardian[children[alone]] = adults[np.minimum(
            (u[alone] * adults.size).astype(np.int64), adults.size - 1)]
    n_children = np.bincount(guardian[guardian >= 0], minlength=n_persons).astype(np.int32)

    person_traits = _traits(seed, PERSON, pop.person_traits, n_persons, ~is_child)

    n_comp = n_companies_for(policy, n_persons)
    company_region = _pick(uniforms(seed, COMPANY, "population:region", 0, n_comp), weights)
    shares = np.array([k.share for k in pop.company_kinds])
    company_kind = _pick(uniforms(seed, COMPANY, "population:kind", 0, n_comp), shares)
    company_traits = _traits(seed, COMPANY, pop.company_traits, n_comp, None)
    return Population(
        seed=seed,
        person_region=person_region,
        is_child=is_child,
        guardian=guardian,
        n_children=n_children,
        person_traits=person_traits,
        company_region=company_region.astype(region_dtype),
        company_kind=company_kind.astype(np.int8),
        company_traits=company_traits,
    )


def _pick(u: np.ndarray, weights: np.ndarray) -> np.ndarray:
    cum = np.cumsum(weights) / weights.sum()
    return np.minimum(np.searchsorted(cum, u, side="right"), len(weights) - 1)


def _traits(seed: int, subject_type: int, traits: dict[str, Trait], n: int,
            mask: np.ndarray | None) -> np.ndarray:
    out = np.zeros((len(traits), n), dtype=np.float32)
    for row, (name, t) in enumerate(traits.items()):
        u = uniforms(seed, subject_type, f"trait:{name}", 0, n)
        out[row] = _ppf(t, u)
        if mask is not None:
            out[row][~mask] = 0.0
    return out


def _ppf(t: Trait, u: np.ndarray) -> np.ndarray:
    if t.distribution == "lognormal":
        sigma = float(t.sigma)  # type: ignore[arg-type]
        return np.exp(math.log(t.mean) - sigma * sigma / 2 + sigma * special.ndtri(u))
    if t.distribution == "beta":
        return special.betaincinv(t.a, t.b, u)
    return np.full(u.shape, t.value)
