"""The one decision function: what a subject's state brings.

A state (grade, lists) makes some measures apply (`applying`); measures decide whether
a service is allowed (`decide`, for the subject itself or for a child through its
guardian); disclosure rules decide who is published (`disclosed`); a company's grade sets
its tax and procurement terms (`company_terms`). Everything is read from the plan's
`Consequences` arrays, never from names.

Each function is written once, in arithmetic that works on integers and on int64 arrays
alike, and compiled by Numba. The kernel calls it per subject, the NumPy backend over
arrays of subjects, the service per state: the simulator's metrics, the service's
checks, the subject's view and the public list all run this code.
"""

from __future__ import annotations

import numba as nb

from socialcredit.engine._layout import Consequences

# holders of a deciding measure
SUBJECT, GUARDIAN = 0, 1


@nb.njit(cache=True)
def applying(c: Consequences, grade, mask):  # noqa: ANN001, ANN201 - int or int64 array
    """The measures (bits) whose rule holds for a subject in `grade` (index) on the lists
    of `mask` (int64): those of the subject itself and, for bits in `c.children`, those
    it imposes on its children."""
    bits = c.g_bits[grade]
    for li in range(c.l_bits.shape[0]):
        bits = bits | (-((mask >> li) & 1) & c.l_bits[li])
    return bits


@nb.njit(cache=True)
def _first(bits, n):  # noqa: ANN001, ANN202
    """Index of the lowest set bit among the first n, -1 if none (policy order)."""
    out = bits * 0 - 1
    for m in range(n - 1, -1, -1):
        out = out + ((bits >> m) & 1) * (m - out)
    return out


@nb.njit(cache=True)
def decide(c: Consequences, service, own, guardian):  # noqa: ANN001, ANN201
    """Allow or deny `service` (an index into the plan's services).

    `own`: the measures applying to the subject's own state (0 for a child, who has
    none); `guardian`: those applying to its guardian's state (0 for an adult). A child
    is reached only by measures that reach children; an adult only by the others.
    Returns (allowed, measure): the deciding measure's index, or -1. A sanction that
    applies denies (the first in policy order); else a privilege that applies allows;
    else a service that only privileges grant is denied (measure -1); else allowed.
    """
    n = c.m_weight_children.shape[0]
    held = (own & ~c.children) | (guardian & c.children)
    sanctions = held & c.sv_sanctions[service]
    privileges = held & c.sv_privileges[service]
    allowed = (sanctions == 0) & ((privileges != 0) | (c.sv_privileges[service] == 0))
    by_sanction = _first(sanctions, n)
    by_privilege = _first(privileges, n)
    measure = by_sanction + (by_sanction < 0) * (by_privilege - by_sanction)
    return allowed, measure


@nb.njit(cache=True)
def disclosed(c: Consequences, segment, grade, mask):  # noqa: ANN001, ANN201
    """The disclosure rules (bits) that publish a subject of this segment, grade and
    lists (int64 mask); 0 if none does."""
    out = mask * 0
    for d in range(c.d_grades.shape[0]):
        covered = (c.d_segs[d] >> segment) & 1
        hit = ((c.d_grades[d] >> grade) & 1) | (((c.d_lists[d] & mask) != 0) * 1)
        out = out | ((covered & hit) << d)
    return out


def company_terms(c: Consequences, grade):  # noqa: ANN001, ANN201
    """(tax multiplier, excluded from public procurement) of a company in `grade`."""
    return c.tax[grade], c.excluded[grade]
