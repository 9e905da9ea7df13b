"""Typed layouts of everything the backends read and write.

Every array a kernel touches has a name here. The plan of one subject type is two
NamedTuples (`PlanArrays`: acts to lists; `Consequences`: what a state brings), the
society a third, and a chunk's inputs and outputs the rest. Numba accepts NamedTuples,
so a kernel reads `plan.b_rate` instead of the 47th positional argument, and two arrays
of one type cannot be swapped silently.

Sizes: b behaviours, o outcomes, k record kinds, c channels, v coverage names, r
regions, g grades, l lists, m measures, s services, d disclosure rules, e segments
(persons: one, "adult"; companies: their kinds), n subjects, D days.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class Regions(NamedTuple):
    join_day: np.ndarray       # int64[r]: the day a region joins the system
    cov: np.ndarray            # float64[r, v]: a region's coverage by name


class Behaviours(NamedTuple):
    rate: np.ndarray           # float64[b]: daily probability of an act
    mult: np.ndarray           # int64[b]: trait row that multiplies it, -1 none
    chan: np.ndarray           # int64[b]: channel that records it
    stream: np.ndarray         # uint64[b]: random stream id
    os: np.ndarray             # int64[b]: first outcome
    oe: np.ndarray             # int64[b]: one past the last outcome
    segmask: np.ndarray        # int64[b]: segments that can act (bit per segment)


class Outcomes(NamedTuple):
    kind: np.ndarray           # int64[o]: record kind of an outcome
    prob: np.ndarray           # float64[o]: probability given earlier ones failed
    trait: np.ndarray          # int64[o]: trait row used as probability, -1 none
    compl: np.ndarray          # bool[o]: use 1 - trait


class Kinds(NamedTuple):
    points: np.ndarray         # int64[k]
    trig: np.ndarray           # int64[k]: list a record of this kind triggers, -1 none
    tdays: np.ndarray          # int64[k]: days it lists for
    rafter: np.ndarray         # int64[k]: days it lists for once repaired
    rprob: np.ndarray          # float64[k]: probability of credit repair
    name: np.ndarray           # uint8[...]: kind names, UTF-8, concatenated
    name_off: np.ndarray       # int64[k + 1]: offsets into `name`
    prefix: int                # first byte of the type's simulated ids ('p' or 'c')


class Channels(NamedTuple):
    det: np.ndarray            # float64[c]: detection probability
    cov: np.ndarray            # int64[c]: coverage name, -1 for full coverage
    mis: np.ndarray            # float64[c]: misattribution probability
    deter: np.ndarray          # float64[c]: deterrence per unit of coverage
    learn: np.ndarray          # float64[c]: perceived coverage per own detection
    fp_rate: np.ndarray        # float64[c]: false positives per subject and day
    fp_kind: np.ndarray        # int64[c]: their record kind, -1 none
    fp_stream: np.ndarray      # uint64[c]


class ScoreRule(NamedTuple):
    base: int
    window: int
    agg: int                   # 0 sum, 1 latest
    clamp_lo: int
    clamp_hi: int
    grade_min: np.ndarray      # int64[g - 1]: lower bounds, highest grade first
    hist_lo: int               # score of the histogram's first bin
    n_bins: int


class ListRules(NamedTuple):
    below: np.ndarray          # int64[l]: on the list below this score (-BIG: never)
    atleast: np.ndarray        # int64[l]: on the list at this score or more (BIG: never)
    excl: np.ndarray           # int64[l]: lists (bits) that keep a subject off
    dur: np.ndarray            # int64[l]: a ban's length when entered by score, 0 none
    clear: np.ndarray          # bool[l]: entering wipes the points
    thresholds: np.ndarray     # int64[2l]: every score threshold, sorted


class PlanArrays(NamedTuple):
    """The rules of one subject type from acts to lists, as arrays, in groups (a kernel
    function takes the groups it reads)."""

    subject_type: int          # 0 persons, 1 companies (keys the random streams)
    regions: Regions
    behaviours: Behaviours
    outcomes: Outcomes
    kinds: Kinds
    channels: Channels
    score: ScoreRule
    lists: ListRules


class Consequences(NamedTuple):
    """What a state brings, compiled: measures, disclosure and company terms.

    Bit m of a measure mask is measure m of this subject type in policy order; bit d of a
    disclosure mask is disclosure rule d. `engine._decide` reads these and nothing else.
    """

    g_bits: np.ndarray          # int64[g]: measures whose rule holds in grade g
    l_bits: np.ndarray          # int64[l]: measures whose rule holds on list l
    children: int               # measure bits that reach the holder's children
    child_sanctions: int        # of those, the sanctions
    m_weight_children: np.ndarray  # bool[m]: counted per child of the holder
    sv_sanctions: np.ndarray    # int64[s]: sanctions gating service s
    sv_privileges: np.ndarray   # int64[s]: privileges granting service s
    d_grades: np.ndarray        # int64[d]: grades (bits) a disclosure rule publishes
    d_lists: np.ndarray         # int64[d]: lists (bits) it publishes
    d_segs: np.ndarray          # int64[d]: segments (bits) it covers
    tax: np.ndarray             # float64[g]: tax multiplier by grade
    excluded: np.ndarray        # bool[g]: excluded from public procurement


class Society(NamedTuple):
    """The subjects of one type as the kernels read them."""

    region: np.ndarray          # uint8 or uint16[n]
    seg: np.ndarray             # int8[n]: segment, -1 for a child (not simulated)
    traits: np.ndarray          # float32[traits, n]
    n_children: np.ndarray      # int32[n]
    pool: np.ndarray            # int64: simulated subjects ordered by region
    pool_off: np.ndarray        # int64[r + 1]: each region's slice of `pool`
    base: int = 0               # global id of subject 0 here (a block of a larger society):
    #                             random streams, record identities and the ledger use it


class Incoming(NamedTuple):
    """Records delivered to subjects from outside their own acts, sorted by (target,
    day): misattributed records in a simulation, every record in a replay."""

    target: np.ndarray          # int64
    day: np.ndarray             # int64
    kind: np.ndarray            # int64
    src: np.ndarray             # int64: who did it (-1: nobody)
    flags: np.ndarray           # int64: FALSE, MISATTRIBUTED, ...
    key: np.ndarray             # uint64: identity of the record (replay only)


class Accumulators(NamedTuple):
    """Daily differences (a level is the running sum over days) and end-of-run counts."""

    grade: np.ndarray           # int64[D, e, g]
    list: np.ndarray            # int64[D, e, l]
    wrong: np.ndarray           # int64[D, e, l]: on the list only through false records
    hist: np.ndarray            # int32[D, bins]: score histogram
    rec: np.ndarray             # int64[D, k]: records made
    false: np.ndarray           # int64[D, k]: false records made
    acts: np.ndarray            # int64[D, b]: expected acts, in units of 2**-32
    reg_acts: np.ndarray        # int64[D, r, b]
    measure: np.ndarray         # int64[D, m]: subjects (children, for spillover) it applies to
    child_restricted: np.ndarray  # int64[D]: children under at least one sanction
    published: np.ndarray       # int64[D]: subjects a disclosure rule publishes
    denied: np.ndarray          # int64[D, s]: subjects a check of service s would refuse
    child_denied: np.ndarray    # int64[D, s]: children a check of service s would refuse
    reg_list: np.ndarray        # int64[r, l]: on the list on the last day, by region
    ever: np.ndarray            # int64[e, l]: on the list on some day


class Final(NamedTuple):
    """Each subject's state on the last day; the dates only when asked (else 0 rows)."""

    score: np.ndarray           # int32[n]
    grade: np.ndarray           # int8[n]
    mask: np.ndarray            # uint16[n]: lists
    tmask: np.ndarray           # uint16[n]: lists without false records
    next_change: np.ndarray     # int64[n or 0]: first day after the last on which the
    #                             state can change without a new record (NEVER: none)
    trig_until: np.ndarray      # int64[n or 0, l]: last day a trigger record lists
    ban_until: np.ndarray       # int64[n or 0, l]: last day of a ban


class Outbox(NamedTuple):
    """Misattributed records a chunk sends to other subjects (pass A)."""

    target: np.ndarray
    day: np.ndarray
    kind: np.ndarray
    src: np.ndarray
    n: np.ndarray               # int64[1]: records written (may exceed the capacity)


class Ledger(NamedTuple):
    """Every record a chunk makes, in the order made."""

    day: np.ndarray
    subject: np.ndarray
    kind: np.ndarray
    flags: np.ndarray
    doer: np.ndarray
    n: np.ndarray               # int64[1]


class Fifo(NamedTuple):
    """One subject's records that still count, oldest first (a ring buffer)."""

    day: np.ndarray
    kind: np.ndarray
    flags: np.ndarray
    src: np.ndarray             # index of the incoming record, -1 for own records


class RecordOut(NamedTuple):
    """Per incoming record (replay with explanations; else 0 rows)."""

    counts_until: np.ndarray    # int64: last day it counts toward the score
    lists_until: np.ndarray     # int64: last day it lists its subject (-1: no trigger)
    wiped: np.ndarray           # int64: day a points-clearing ban wiped it (-1: never)


class Draws(NamedTuple):
    """A subject's acts and false positives: streams, rates and the next event of each."""

    keys: np.ndarray            # uint64[b]: each behaviour's stream key
    counter: np.ndarray         # int64[b]: draws made from the stream (acts scheduled)
    current: np.ndarray         # int64[b]: the number of the act scheduled next
    next_b: np.ndarray          # int64[b]: day of the next recorded act (NEVER: none)
    p_b: np.ndarray             # float64[b]: daily probability of an act
    q_b: np.ndarray             # float64[b]: ... of a recorded act
    lq_b: np.ndarray            # float64[b]: log1p(-q_b)
    active_b: np.ndarray        # bool[b]: the subject has this behaviour (in this pass)
    fp_keys: np.ndarray         # uint64[c]: false-positive streams
    fp_counter: np.ndarray      # int64[c]
    fp_current: np.ndarray      # int64[c]
    next_fp: np.ndarray         # int64[c]: day of the next false positive
    fp_chan: np.ndarray         # int64[c]: the channels that make false positives, in order
    detections: np.ndarray      # float64[c]: own detections so far (learning)
    learned: np.ndarray         # bool[c]: a detection today on a learning channel
    due: np.ndarray             # int64[b]: behaviours with a recorded act today
    due_kind: np.ndarray        # int64[b]: its record kind
    due_target: np.ndarray      # int64[b]: its misattribution target, -1 none


class Timers(NamedTuple):
    """When a subject's listings end, and the identities of its repairable records."""

    trig_a: np.ndarray          # int64[l]: last day triggered listings last (actual)
    ban_a: np.ndarray           # int64[l]: last day of a ban (actual)
    trig_t: np.ndarray          # int64[l]: the same without false records
    ban_t: np.ndarray           # int64[l]
    dup_day: np.ndarray         # int64[k]: day of the last record of a repairable kind
    dup_n: np.ndarray           # int64[k]: its number that day


N_SLOTS = 17  # the per-subject state vector (slots named in engine/_kernel.py)


class Work(NamedTuple):
    """A kernel's working arrays for one subject at a time, reused across a chunk."""

    draws: Draws
    timers: Timers
    st: np.ndarray              # int64[N_SLOTS]
    fifo: Fifo


def work(behaviours: int, channels: int, lists: int, kinds: int, fifo_capacity: int) -> Work:
    """Working arrays for a kernel call (the kernel allocates nothing itself)."""
    b, c = behaviours, channels
    e = np.empty
    draws = Draws(e(b, np.uint64), _zeros(b), _zeros(b), e(b, np.int64), _zeros(b, dtype=float),
                  _zeros(b, dtype=float), _zeros(b, dtype=float), _zeros(b, dtype=np.bool_),
                  e(c, np.uint64), _zeros(c), _zeros(c), e(c, np.int64), e(c, np.int64),
                  _zeros(c, dtype=float), _zeros(c, dtype=np.bool_), e(b, np.int64),
                  e(b, np.int64), e(b, np.int64))
    timers = Timers(e(lists, np.int64), e(lists, np.int64), e(lists, np.int64),
                    e(lists, np.int64), np.full(kinds, -1, np.int64), _zeros(kinds))
    return Work(draws, timers, _zeros(N_SLOTS), fifo(fifo_capacity))


def _zeros(*shape: int, dtype: type = np.int64) -> np.ndarray:
    return np.zeros(shape, dtype)


def accumulators(days: int, segments: int, grades: int, lists: int, kinds: int,
                 behaviours: int, regions: int, bins: int, measures: int,
                 services: int) -> Accumulators:
    """Zeroed accumulators of these sizes."""
    d = days
    return Accumulators(
        grade=_zeros(d, segments, grades), list=_zeros(d, segments, lists),
        wrong=_zeros(d, segments, lists), hist=_zeros(d, bins, dtype=np.int32),
        rec=_zeros(d, kinds), false=_zeros(d, kinds), acts=_zeros(d, behaviours),
        reg_acts=_zeros(d, regions, behaviours), measure=_zeros(d, measures),
        child_restricted=_zeros(d), published=_zeros(d), denied=_zeros(d, services),
        child_denied=_zeros(d, services), reg_list=_zeros(regions, lists),
        ever=_zeros(segments, lists),
    )


def add_accumulators(into: Accumulators, other: Accumulators) -> None:
    """into += other, field by field."""
    for a, b in zip(into, other, strict=True):
        a += b


def final_arrays(n: int, lists: int, dates: bool) -> Final:
    """Final states of n subjects; the dates (next change, listing ends) if asked."""
    m = n if dates else 0
    return Final(np.empty(n, np.int32), np.empty(n, np.int8), np.empty(n, np.uint16),
                 np.empty(n, np.uint16), np.empty(m, np.int64), np.empty((m, lists), np.int64),
                 np.empty((m, lists), np.int64))


def slice_final(f: Final, start: int, end: int) -> Final:
    """The rows of subjects start..end-1 (views)."""
    return Final(*(a[start:end] for a in f))


def outbox(cap: int) -> Outbox:
    return Outbox(*(np.empty(cap, np.int64) for _ in range(4)), np.zeros(1, np.int64))


def ledger(cap: int) -> Ledger:
    return Ledger(*(np.empty(cap, np.int64) for _ in range(5)), np.zeros(1, np.int64))


def fifo(cap: int) -> Fifo:
    return Fifo(*(np.empty(cap, np.int64) for _ in range(4)))


def record_out(n: int) -> RecordOut:
    return RecordOut(*(np.full(n, -1, np.int64) for _ in range(3)))


def no_incoming() -> Incoming:
    e = np.empty(0, np.int64)
    return Incoming(e, e, e, e, e, np.empty(0, np.uint64))
