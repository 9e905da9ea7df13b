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
    """A society, or one block of it, as a struct of arrays; index i is subject
    `base + i` of its type (`person_base`, `company_base`: 0 for a whole society).

    Persons: `person_region`, `is_child`, `guardian` (global id, -1 for adults),
    `n_children`, `person_traits` (one row per trait, in policy order). Companies:
    `company_region`, `company_kind`, `company_traits`. No Python object exists per
    subject.
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
    person_base: int = 0
    company_base: int = 0

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
        return sum(getattr(self, f).nbytes for f in self.__dataclass_fields__
                   if isinstance(getattr(self, f), np.ndarray))


def n_companies_for(policy: Policy, n_persons: int) -> int:
    # Python's round(), as the reference text says "M = round(N / 20)".
    return int(round(n_persons * policy.population.companies_per_person))


def n_blocks(policy: Policy, n_persons: int) -> int:
    """The blocks of a society of `n_persons` (persons and companies are cut into blocks
    of `population.block` subjects each; block k holds the k-th of each type)."""
    size = policy.population.block
    most = max(n_persons, n_companies_for(policy, n_persons), 1)
    return -(-most // size)


def block_range(policy: Policy, n: int, k: int) -> tuple[int, int]:
    """Subjects lo..hi-1 (of a type with n subjects) in block k (empty past the end)."""
    size = policy.population.block
    return min(k * size, n), min((k + 1) * size, n)


def build_population(policy: Policy, n_persons: int, seed: int) -> Population:
    """Draw the whole society of `n_persons` for `policy` from `seed`: its blocks, joined
    (`build_block` draws one block alone, as a run does)."""
    return join_blocks([build_block(policy, n_persons, seed, k)
                        for k in range(n_blocks(policy, n_persons))])


def join_blocks(blocks: list[Population]) -> Population:
    """Consecutive blocks, from the first, as one society."""
    if len(blocks) == 1:
        return blocks[0]
    arrays = {f: np.concatenate([getattr(b, f) for b in blocks], axis=-1)
              for f in Population.__dataclass_fields__
              if f not in ("seed", "person_base", "company_base")}
    return Population(seed=blocks[0].seed, **arrays)


def build_block(policy: Policy, n_persons: int, seed: int, k: int) -> Population:
    """Draw block k of the society of `n_persons` for `policy` from `seed`.

    Every attribute comes from its own named stream keyed by the subject's global id, so
    a block is drawn without drawing the others, and the society depends only on the
    seed, the population section and the regions' weights: two policies that share
    those share the society, person for person. A child's guardian is an adult of its
    city in its block (of any city in the block if its city has none there).
    """
    pop = policy.population
    n_regions = len(policy.regions)
    weights = np.array([r.weight for r in policy.regions], dtype=np.float64)
    region_dtype = np.uint8 if n_regions <= 256 else np.uint16

    lo, hi = block_range(policy, n_persons, k)
    n = hi - lo
    person_region = _pick(uniforms(seed, PERSON, "population:region", lo, n), weights)
    person_region = person_region.astype(region_dtype)
    is_child = uniforms(seed, PERSON, "population:child", lo, n) < pop.child_share

    guardian = np.full(n, -1, dtype=np.int64)  # local until the end
    adults = np.flatnonzero(~is_child).astype(np.int64)
    order = np.argsort(person_region[adults], kind="stable")
    pool = adults[order]
    counts = np.bincount(person_region[adults], minlength=n_regions)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    children = np.flatnonzero(is_child)
    if children.size:
        u = uniforms(seed, PERSON, "population:guardian", lo, n)[children]
        r = person_region[children].astype(np.int64)
        n_r = counts[r]
        pick = offsets[r] + np.minimum((u * n_r).astype(np.int64), np.maximum(n_r - 1, 0))
        has = n_r > 0
        guardian[children[has]] = pool[pick[has]]
        # a child of a region with no adult (a tiny or child-heavy block) takes a
        # guardian from anywhere in the block, with the same draw
        alone = ~has & (adults.size > 0)
        guardian[children[alone]] = adults[np.minimum(
            (u[alone] * adults.size).astype(np.int64), adults.size - 1)]
    n_children = np.bincount(guardian[guardian >= 0], minlength=n).astype(np.int32)
    guardian = np.where(guardian >= 0, guardian + lo, -1).astype(np.int32)

    person_traits = _traits(seed, PERSON, pop.person_traits, lo, n, ~is_child)

    c_lo, c_hi = block_range(policy, n_companies_for(policy, n_persons), k)
    m = c_hi - c_lo
    company_region = _pick(uniforms(seed, COMPANY, "population:region", c_lo, m), weights)
    shares = np.array([kind.share for kind in pop.company_kinds])
    company_kind = _pick(uniforms(seed, COMPANY, "population:kind", c_lo, m), shares)
    company_traits = _traits(seed, COMPANY, pop.company_traits, c_lo, m, None)
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
        person_base=lo,
        company_base=c_lo,
    )


def _pick(u: np.ndarray, weights: np.ndarray) -> np.ndarray:
    cum = np.cumsum(weights) / weights.sum()
    return np.minimum(np.searchsorted(cum, u, side="right"), len(weights) - 1)


def _traits(seed: int, subject_type: int, traits: dict[str, Trait], start: int, n: int,
            mask: np.ndarray | None) -> np.ndarray:
    out = np.zeros((len(traits), n), dtype=np.float32)
    for row, (name, t) in enumerate(traits.items()):
        u = uniforms(seed, subject_type, f"trait:{name}", start, n)
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
