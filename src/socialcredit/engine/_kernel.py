"""The per-subject event kernel (Numba, CPU backend).

Each subject is run over all days at once, jumping from event to event: its next
recorded act of each behaviour (geometric gaps, redrawn when a rate changes), its next
false positive, its next incoming record, the expiry of its oldest record, and the end
of a timed listing. Scores and lists change only on those days, and every change is
written as a +1/-1 difference at its day, so daily series are exact after a cumulative
sum.

The hot functions are inlined into `run_chunk` at Numba's level (`inline="always"`):
called as functions, each would take its NamedTuples as hundreds of scalar arguments.
The rare ones (a rollout, a wipe, a change of list, the `latest` aggregate) stay calls,
which saves about a fifth of the compile time and no measurable run time.

On each event day the phases of `engine/_phases.py` run in order, each a function
below of the same name: `_acts`, `_sensing`, `_records`, `_expiry`, `_scores`,
`_lists`, `_sanctions`, `_metrics`. Subject state that lives across days is kept in a
small vector (`st`, slots named below); the kernel reads the plan, the society and the
buffers through the NamedTuples of `engine/_layout.py`.

Pass A (mode_a=True) runs only the behaviours of channels that can misattribute, and
writes each misattributed record to an outbox addressed to its target. Pass B runs
everything and receives the outbox, sorted by (target, day), as incoming records. A
replay (the service) runs pass B with no behaviour and every record incoming.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from socialcredit.engine._decide import applying, decide, disclosed
from socialcredit.engine._identity import _repair_seed, _repaired, sim_identity
from socialcredit.rng._core import stream_key, u01

NEVER = 1 << 40
FALSE = 1  # record flags, as written to the ledger
MISATTRIBUTED = 2
FALSE_POSITIVE = 4
VOID_ACTUAL = 8  # fifo-only flags: wiped by a points-clearing ban
VOID_TRUE = 16

# slots of one act's draws in its stream (counter = 8 * act + slot); _DETECT is unused
# since detection is part of the sampled rate, and kept so the other slots keep their numbers
_GAP, _DETECT, _OUTCOME, _MISATTRIBUTE, _TARGET = 0, 1, 2, 3, 4
# slots of the per-subject state vector `st` (engine/_layout.py: Work)
_HEAD, _COUNT, _SUM_A, _SUM_T = 0, 1, 2, 3          # the fifo and its sums (actual, true)
_TIMER_MAX, _FALSE_ACTIVE = 4, 5                   # last timer end; false records counting
_SCORE, _GRADE, _MASK, _TMASK, _BITS, _PUB = 6, 7, 8, 9, 10, 11  # state as last emitted
_FIRST, _BAND_LO, _BAND_HI, _EVER, _JOINED = 12, 13, 14, 15, 16
ACT_SCALE = float(1 << 32)  # expected acts are accumulated in units of 2**-32


@nb.njit(inline="always", cache=True, _nrt=False)
def _schedule(key: np.uint64, counter: np.ndarray, current: np.ndarray, b: int, p: float,
              log_q: float, first_day: int, days: int) -> int:
    """Day of the next act on or after first_day of a daily Bernoulli(p) process;
    log_q = log1p(-p), cached by the caller because p changes far less often than acts."""
    if p <= 0.0:
        return NEVER
    n = counter[b]
    counter[b] = n + 1
    current[b] = n
    if p >= 1.0:
        return first_day
    u = u01(key, n * 8 + _GAP)
    gap = math.floor(math.log(u) / log_q)
    if gap >= days:
        return NEVER
    d = first_day + int(gap)
    return d if d < days else NEVER


@nb.njit(inline="always", cache=True, _nrt=False)
def _log_q(p: float) -> float:
    return math.log1p(-p) if 0.0 < p < 1.0 else -1.0


@nb.njit(inline="always", cache=True, _nrt=False)
def _set_rate(b, t, i, joined, r, mode_a, days, beh, ch, cov, traits, d, acts, reg_acts):
    """Set behaviour b's daily act probability from day t on, and the probability that
    an act is also recorded (detection x coverage, once the region has joined). Only
    recorded acts are sampled; acts themselves are counted in expectation, exactly, as
    differences of their probability."""
    p = beh.rate[b]
    if beh.mult[b] >= 0:
        p *= traits[beh.mult[b], i]
    if p > 1.0:
        p = 1.0
    c = beh.chan[b]
    if joined and ch.deter[c] > 0.0:
        seen = cov[r, ch.cov[c]] if ch.cov[c] >= 0 else 1.0
        seen += ch.learn[c] * d.detections[c]
        if seen > 1.0:
            seen = 1.0
        p *= 1.0 - ch.deter[c] * seen
    det = 0.0
    if joined:
        det = ch.det[c]
        if ch.cov[c] >= 0:
            det *= cov[r, ch.cov[c]]
    if not mode_a and t < days:
        # fixed point, so sums are exact and do not depend on the order of chunks
        delta = np.int64(round(p * ACT_SCALE)) - np.int64(round(d.p_b[b] * ACT_SCALE))
        acts[t, b] += delta
        reg_acts[t, r, b] += delta
    d.p_b[b] = p
    d.q_b[b] = p * det
    d.lq_b[b] = _log_q(d.q_b[b])


@nb.njit(cache=True, _nrt=False)
def _start_subject(i, gid, sg, r, mode_a, seed64, days, plan, traits, d, tm, st, acts,
                   reg_acts):
    """Draw keys (by the subject's global id `gid`), set rates and schedule the first
    recorded acts and false positives."""
    beh, ch = plan.behaviours, plan.channels
    st[:] = 0
    st[_TIMER_MAX] = -1
    st[_FIRST] = 1
    st[_BAND_LO] = NEVER
    st[_BAND_HI] = -NEVER
    jd = plan.regions.join_day[r]
    joined = jd <= 0
    st[_JOINED] = joined
    d.detections[:] = 0.0
    for b in range(beh.rate.shape[0]):
        d.counter[b] = 0
        active = (beh.segmask[b] >> sg) & 1
        if mode_a and ch.mis[beh.chan[b]] <= 0.0:
            active = 0
        d.active_b[b] = active != 0
        d.p_b[b] = 0.0
        d.q_b[b] = 0.0
        d.lq_b[b] = 0.0
        if active:  # an inactive behaviour never draws (its rate stays 0): no key
            d.keys[b] = stream_key(seed64, plan.subject_type, gid, beh.stream[b])
            _set_rate(b, 0, i, joined, r, mode_a, days, beh, ch, plan.regions.cov, traits, d,
                      acts, reg_acts)
        d.next_b[b] = _schedule(d.keys[b], d.counter, d.current, b, d.q_b[b], d.lq_b[b], 0,
                                days)
    for c in range(ch.det.shape[0]):
        d.fp_counter[c] = 0
        d.next_fp[c] = NEVER
        if not mode_a and ch.fp_kind[c] >= 0 and ch.fp_rate[c] > 0.0:
            d.fp_keys[c] = stream_key(seed64, plan.subject_type, gid, ch.fp_stream[c])
            d.next_fp[c] = _schedule(d.fp_keys[c], d.fp_counter, d.fp_current, c,
                                     ch.fp_rate[c], _log_q(ch.fp_rate[c]), max(jd, 0), days)
    tm.trig_a[:] = -1
    tm.ban_a[:] = -1
    tm.trig_t[:] = -1
    tm.ban_t[:] = -1
    tm.dup_day[:] = -1


@nb.njit(cache=True, _nrt=False)
def _rollout(t, i, r, mode_a, days, beh, ch, cov, traits, d, st, acts, reg_acts):
    """The subject's region joins the system today: rates and schedules from today."""
    st[_JOINED] = 1
    for b in range(beh.rate.shape[0]):
        if d.active_b[b]:
            _set_rate(b, t, i, True, r, mode_a, days, beh, ch, cov, traits, d, acts, reg_acts)
            d.next_b[b] = _schedule(d.keys[b], d.counter, d.current, b, d.q_b[b], d.lq_b[b],
                                    t, days)


@nb.njit(inline="always", cache=True, _nrt=False)
def _acts(t, d) -> int:
    """Phase 1: which behaviours have a recorded act today (acts that no channel sees
    are not sampled, only counted in expectation). Returns their number."""
    n = 0
    for b in range(d.next_b.shape[0]):
        if d.next_b[b] == t:
            d.due[n] = b
            n += 1
    return n


@nb.njit(inline="always", cache=True, _nrt=False)
def _sensing(t, i, r, n_due, mode_a, days, beh, out, ch, cov, soc, d, st, acts, reg_acts):
    """Phase 2: each recorded act's outcome (its record kind) and whether the channel
    misattributes it, and to whom. Own detections raise perceived coverage (learning)
    from tomorrow; the behaviours are then scheduled again from tomorrow."""
    learned = False
    for j in range(n_due):
        b = d.due[j]
        n = d.current[b]
        c = beh.chan[b]
        # outcome: each in turn, given that none before it was chosen
        kind = out.kind[beh.oe[b] - 1]
        u = u01(d.keys[b], n * 8 + _OUTCOME) if beh.oe[b] - beh.os[b] > 1 else 1.0
        for o in range(beh.os[b], beh.oe[b] - 1):
            p = out.prob[o] if out.trait[o] < 0 else soc.traits[out.trait[o], i]
            if out.compl[o]:
                p = 1.0 - p
            if u < p:
                kind = out.kind[o]
                break
            u = (u - p) / (1.0 - p) if p < 1.0 else 0.5
        target = -1
        if ch.mis[c] > 0.0 and u01(d.keys[b], n * 8 + _MISATTRIBUTE) < ch.mis[c]:
            lo = soc.pool_off[r]
            size = soc.pool_off[r + 1] - lo
            if size > 1:
                me = np.searchsorted(soc.pool[lo:lo + size], i)
                k = int(u01(d.keys[b], n * 8 + _TARGET) * (size - 1))
                if k >= me:
                    k += 1
                target = soc.pool[lo + k]
        d.due_kind[j] = kind
        d.due_target[j] = target
        if ch.learn[c] > 0.0:
            d.detections[c] += 1.0
            d.learned[c] = True
            learned = True
    # the behaviours that acted today are scheduled again, and after a detection on a
    # learning channel also those whose rate it changes (added to the list `due`); each
    # has a stream of its own, so the order in which they are scheduled does not matter
    n_sched = n_due
    if learned:
        joined = st[_JOINED] != 0
        for b in range(beh.rate.shape[0]):
            if d.active_b[b] and d.learned[beh.chan[b]]:
                _set_rate(b, t + 1, i, joined, r, mode_a, days, beh, ch, cov, soc.traits, d,
                          acts, reg_acts)
                if d.next_b[b] != t:  # not in the list yet
                    d.due[n_sched] = b
                    n_sched += 1
        d.learned[:] = False
    for j in range(n_sched):
        b = d.due[j]
        d.next_b[b] = _schedule(d.keys[b], d.counter, d.current, b, d.q_b[b], d.lq_b[b],
                                t + 1, days)


@nb.njit(inline="always", cache=True, _nrt=False)
def _push(t, kind, flags, doer, i, src, key, replay, repair_key, kinds, st, tm, fifo, rec,
          false, led, rout) -> int:
    """Append one record against subject i (its global id) (request) and apply its
    trigger (resolve).
    Returns 1 if the subject's fifo is full."""
    cap_mask = fifo.day.shape[0] - 1
    if st[_COUNT] > cap_mask:
        return 1
    pos = (st[_HEAD] + st[_COUNT]) & cap_mask
    fifo.day[pos] = t
    fifo.kind[pos] = kind
    fifo.flags[pos] = flags
    fifo.src[pos] = src
    st[_COUNT] += 1
    pts = kinds.points[kind]
    st[_SUM_A] += pts
    rec[t, kind] += 1
    if flags & FALSE:
        false[t, kind] += 1
        st[_FALSE_ACTIVE] += 1
    else:
        st[_SUM_T] += pts
    li = kinds.trig[kind]
    if li >= 0:
        until = t + kinds.tdays[kind] - 1
        if kinds.rprob[kind] > 0.0:
            if not replay:
                # the record's identity: its subject, day, kind and number that day
                dup = tm.dup_n[kind] + 1 if tm.dup_day[kind] == t else 0
                tm.dup_day[kind] = t
                tm.dup_n[kind] = dup
                key = sim_identity(kinds.prefix, i, t, kinds.name, kinds.name_off[kind],
                                   kinds.name_off[kind + 1], dup)
            if _repaired(repair_key, key, kinds.rprob[kind]):
                until = t + kinds.rafter[kind] - 1
        if until > st[_TIMER_MAX]:
            st[_TIMER_MAX] = until
        if until > tm.trig_a[li]:
            tm.trig_a[li] = until
        if (flags & FALSE) == 0 and until > tm.trig_t[li]:
            tm.trig_t[li] = until
        if src >= 0 and rout.lists_until.shape[0] > 0:
            rout.lists_until[src] = until
    if led.n.shape[0] > 0:  # the ledger is asked for
        m = led.n[0]
        if m < led.day.shape[0]:
            led.day[m] = t
            led.subject[m] = i
            led.kind[m] = kind
            led.flags[m] = flags
            led.doer[m] = doer
        led.n[0] = m + 1
    return 0


@nb.njit(inline="always", cache=True, _nrt=False)
def _records(t, i, gid, n_due, n_fp, days, replay, repair_key, in_ptr, kinds, ch, d, st, tm,
             inc, fifo, rec, false, led, rout) -> tuple[int, int]:
    """Phase 3: records are requested against their subject: its own recorded acts (not
    misattributed), false positives (of the n_fp channels that make them), then records
    delivered from elsewhere. Returns the fifo overflow flag and the next incoming
    record."""
    over = 0
    for j in range(n_due):
        if d.due_target[j] < 0:
            over |= _push(t, d.due_kind[j], 0, gid, gid, -1, np.uint64(0), replay, repair_key,
                          kinds, st, tm, fifo, rec, false, led, rout)
    for j in range(n_fp):
        c = d.fp_chan[j]
        if d.next_fp[c] == t:
            over |= _push(t, ch.fp_kind[c], FALSE | FALSE_POSITIVE, -1, gid, -1, np.uint64(0),
                          replay, repair_key, kinds, st, tm, fifo, rec, false, led, rout)
            d.next_fp[c] = _schedule(d.fp_keys[c], d.fp_counter, d.fp_current, c,
                                     ch.fp_rate[c], _log_q(ch.fp_rate[c]), t + 1, days)
    n_in = inc.target.shape[0]
    while in_ptr < n_in and inc.target[in_ptr] == i and inc.day[in_ptr] == t:
        over |= _push(t, inc.kind[in_ptr], inc.flags[in_ptr], inc.src[in_ptr], gid, in_ptr,
                      inc.key[in_ptr], replay, repair_key, kinds, st, tm, fifo, rec, false,
                      led, rout)
        in_ptr += 1
    return over, in_ptr


@nb.njit(inline="always", cache=True, _nrt=False)
def _outbox(t, gid, n_due, d, box) -> None:
    """Pass A's records phase: misattributed records go to the outbox of their target."""
    for j in range(n_due):
        if d.due_target[j] >= 0:
            m = box.n[0]
            if m < box.target.shape[0]:
                box.target[m] = d.due_target[j]
                box.day[m] = t
                box.kind[m] = d.due_kind[j]
                box.src[m] = gid
            box.n[0] = m + 1


@nb.njit(inline="always", cache=True, _nrt=False)
def _expiry(t, window, points, st, fifo, rout) -> None:
    """Phase 4: records older than the score window stop counting."""
    cap_mask = fifo.day.shape[0] - 1
    while st[_COUNT] > 0 and fifo.day[st[_HEAD]] + window <= t:
        pos = st[_HEAD]
        f = fifo.flags[pos]
        pts = points[fifo.kind[pos]]
        if (f & VOID_ACTUAL) == 0:
            st[_SUM_A] -= pts
            if fifo.src[pos] >= 0 and rout.counts_until.shape[0] > 0:
                rout.counts_until[fifo.src[pos]] = t - 1
        if (f & (VOID_TRUE | FALSE)) == 0:
            st[_SUM_T] -= pts
        if f & FALSE:
            st[_FALSE_ACTIVE] -= 1
        st[_HEAD] = (pos + 1) & cap_mask
        st[_COUNT] -= 1


@nb.njit(cache=True, _nrt=False)
def _latest(st, true_only, base, points, fifo) -> int:
    """The points of the newest record that counts; of records of that day, the one
    with the fewest points (then the kind listed last). The base if none counts."""
    cap_mask = fifo.day.shape[0] - 1
    void = VOID_TRUE if true_only else VOID_ACTUAL
    day = -1
    best = base
    best_kind = -1
    for j in range(st[_COUNT] - 1, -1, -1):
        pos = (st[_HEAD] + j) & cap_mask
        f = fifo.flags[pos]
        if (f & void) != 0 or (true_only and (f & FALSE) != 0):
            continue
        if day >= 0 and fifo.day[pos] != day:
            break
        k = fifo.kind[pos]
        pts = points[k]
        if day < 0 or pts < best or (pts == best and k > best_kind):
            best = pts
            best_kind = k
        day = fifo.day[pos]
    return best


@nb.njit(inline="always", cache=True, _nrt=False)
def _scores(st, true_only, score, points, fifo) -> int:
    """Phase 5: score = base + points in the window (or the newest record's points),
    clamped. `true_only`: without false records (the counterfactual)."""
    if score.agg == 0:
        s = score.base + (st[_SUM_T] if true_only else st[_SUM_A])
    else:
        s = _latest(st, true_only, score.base, points, fifo)
    if s < score.clamp_lo:
        s = score.clamp_lo
    if s > score.clamp_hi:
        s = score.clamp_hi
    return s


@nb.njit(inline="always", cache=True, _nrt=False)
def _list_rules(t, s, trig_until, ban_until, lists) -> tuple[int, bool]:
    """The lists in policy order for score s: thresholds, triggered listings, bans and
    exclusions. Returns the list mask and whether a points-clearing ban began today."""
    mask = 0
    clear = False
    for li in range(lists.below.shape[0]):
        on = trig_until[li] >= t or ban_until[li] >= t
        if (not on and (s < lists.below[li] or s >= lists.atleast[li])
                and (mask & lists.excl[li]) == 0):
            on = True
            if lists.dur[li] > 0:
                ban_until[li] = t + lists.dur[li] - 1
                if lists.clear[li]:
                    clear = True
        if on and (mask & lists.excl[li]) == 0:
            mask |= 1 << li
    return mask, clear


@nb.njit(cache=True, _nrt=False)
def _wipe(t, flag, st, fifo, rout) -> None:
    """A points-clearing ban began: every record counting now stops counting."""
    cap_mask = fifo.day.shape[0] - 1
    for j in range(st[_COUNT]):
        pos = (st[_HEAD] + j) & cap_mask
        if flag == VOID_ACTUAL and (fifo.flags[pos] & VOID_ACTUAL) == 0 and \
                fifo.src[pos] >= 0 and rout.wiped.shape[0] > 0:
            rout.wiped[fifo.src[pos]] = t
            rout.counts_until[fifo.src[pos]] = t - 1
        fifo.flags[pos] |= flag
    st[_SUM_A if flag == VOID_ACTUAL else _SUM_T] = 0


@nb.njit(inline="always", cache=True, _nrt=False)
def _lists(t, s, has_bans, thresholds, score, points, lists, st, tm, fifo,
           rout) -> tuple[int, int, int]:
    """Phase 6: lists in policy order, actual and without false records (the
    counterfactual that measures wrongful listings). A ban that clears the points
    changes the score at once. Returns (score, mask, mask without false records)."""
    if (not has_bans and st[_TIMER_MAX] < t and st[_BAND_LO] <= s < st[_BAND_HI]
            and st[_FIRST] == 0):
        # lists that depend on the score alone change only when it leaves the band
        # between two neighbouring thresholds
        mask = st[_MASK]
    else:
        mask, clear = _list_rules(t, s, tm.trig_a, tm.ban_a, lists)
        if clear:
            _wipe(t, VOID_ACTUAL, st, fifo, rout)
            s = _scores(st, False, score, points, fifo)
            mask, clear = _list_rules(t, s, tm.trig_a, tm.ban_a, lists)
        if not has_bans and st[_TIMER_MAX] < t:
            k = np.searchsorted(thresholds, s, side="right")
            st[_BAND_LO] = thresholds[k - 1] if k > 0 else -NEVER
            st[_BAND_HI] = thresholds[k] if k < thresholds.shape[0] else NEVER
        else:
            st[_BAND_LO] = NEVER
            st[_BAND_HI] = -NEVER
    n_l = lists.below.shape[0]
    if has_bans:
        for li in range(n_l):
            if tm.ban_a[li] > st[_TIMER_MAX]:
                st[_TIMER_MAX] = tm.ban_a[li]
    # without false records the counterfactual is the actual state
    same = score.agg == 0 and st[_FALSE_ACTIVE] == 0 and st[_SUM_A] == st[_SUM_T]
    if same and st[_TIMER_MAX] >= t:
        for li in range(n_l):
            if tm.trig_t[li] != tm.trig_a[li] or tm.ban_t[li] != tm.ban_a[li]:
                same = False
    if same and not has_bans:
        return s, mask, mask
    s_true = _scores(st, True, score, points, fifo)
    tmask, tclear = _list_rules(t, s_true, tm.trig_t, tm.ban_t, lists)
    if tclear:
        _wipe(t, VOID_TRUE, st, fifo, rout)
        s_true = _scores(st, True, score, points, fifo)
        tmask, tclear = _list_rules(t, s_true, tm.trig_t, tm.ban_t, lists)
    if has_bans:
        for li in range(n_l):
            if tm.ban_t[li] > st[_TIMER_MAX]:
                st[_TIMER_MAX] = tm.ban_t[li]
    return s, mask, tmask


@nb.njit(inline="always", cache=True, _nrt=False)
def _grade(s, grade_min) -> int:
    g = 0
    n = grade_min.shape[0]
    while g < n and s < grade_min[g]:
        g += 1
    return g


@nb.njit(inline="always", cache=True, _nrt=False)
def _sanctions(sg, g, mask, cons, st) -> tuple[int, int]:
    """Phase 7: the measures that apply (to the subject, or through it to its children)
    and the disclosure rules that publish it: the one decision function. They depend on
    the grade and the lists alone, so they are decided again only when those changed."""
    if st[_FIRST] == 0 and g == st[_GRADE] and mask == st[_MASK]:
        return st[_BITS], st[_PUB]
    return applying(cons, g, mask), disclosed(cons, sg, g, mask)


@nb.njit(cache=True, _nrt=False)
def _emit(t, sign, sg, s, g, mask, tmask, bits, pub, kids, hist_lo, cons, acc) -> None:
    """Add (sign=1) or remove (sign=-1) one subject's state from the day's levels."""
    nbins = acc.hist.shape[1]
    acc.hist[t, min(max(s - hist_lo, 0), nbins - 1)] += sign
    acc.grade[t, sg, g] += sign
    for li in range(acc.list.shape[2]):
        if (mask >> li) & 1:
            acc.list[t, sg, li] += sign
            if not (tmask >> li) & 1:
                acc.wrong[t, sg, li] += sign
    if bits:
        for m in range(cons.m_weight_children.shape[0]):
            if (bits >> m) & 1:
                acc.measure[t, m] += sign * kids if cons.m_weight_children[m] else sign
        if bits & cons.child_sanctions:
            acc.child_restricted[t] += sign * kids
    if pub:
        acc.published[t] += sign
    for sv in range(cons.sv_sanctions.shape[0]):
        allowed, _ = decide(cons, sv, bits, 0)
        if not allowed:
            acc.denied[t, sv] += sign
        if kids:
            allowed, _ = decide(cons, sv, 0, bits)
            if not allowed:
                acc.child_denied[t, sv] += sign * kids


@nb.njit(inline="always", cache=True, _nrt=False)
def _move(t, sg, s0, s1, g0, g1, hist_lo, hist, grade) -> None:
    nbins = hist.shape[1]
    hist[t, min(max(s0 - hist_lo, 0), nbins - 1)] -= 1
    hist[t, min(max(s1 - hist_lo, 0), nbins - 1)] += 1
    if g0 != g1:
        grade[t, sg, g0] -= 1
        grade[t, sg, g1] += 1


@nb.njit(inline="always", cache=True, _nrt=False)
def _metrics(t, sg, s, g, mask, tmask, bits, pub, kids, hist_lo, cons, st, acc) -> None:
    """Phase 8: changes of score, grade, lists, measures and publication are written as
    differences at their day."""
    if st[_FIRST]:
        _emit(t, 1, sg, s, g, mask, tmask, bits, pub, kids, hist_lo, cons, acc)
        st[_FIRST] = 0
    elif mask != st[_MASK] or tmask != st[_TMASK] or bits != st[_BITS] or pub != st[_PUB]:
        _emit(t, -1, sg, st[_SCORE], st[_GRADE], st[_MASK], st[_TMASK], st[_BITS], st[_PUB],
              kids, hist_lo, cons, acc)
        _emit(t, 1, sg, s, g, mask, tmask, bits, pub, kids, hist_lo, cons, acc)
    elif s != st[_SCORE] or g != st[_GRADE]:  # the common case: only the score moved
        _move(t, sg, st[_SCORE], s, st[_GRADE], g, hist_lo, acc.hist, acc.grade)
    else:
        return
    st[_SCORE] = s
    st[_GRADE] = g
    st[_MASK] = mask
    st[_TMASK] = tmask
    st[_BITS] = bits
    st[_PUB] = pub
    st[_EVER] |= mask


@nb.njit(inline="always", cache=True, _nrt=False)
def _next_day(t, i, in_ptr, n_fp, mode_a, window, d, st, tm, inc, fifo) -> int:
    """The next day on which anything can change for this subject (NEVER: none)."""
    nt = NEVER
    for b in range(d.next_b.shape[0]):
        if d.next_b[b] < nt:
            nt = d.next_b[b]
    if not mode_a:
        for j in range(n_fp):
            if d.next_fp[d.fp_chan[j]] < nt:
                nt = d.next_fp[d.fp_chan[j]]
        if in_ptr < inc.target.shape[0] and inc.target[in_ptr] == i and inc.day[in_ptr] < nt:
            nt = inc.day[in_ptr]
        if st[_COUNT] > 0 and fifo.day[st[_HEAD]] + window < nt:
            nt = fifo.day[st[_HEAD]] + window
        if st[_TIMER_MAX] >= t:
            for li in range(tm.trig_a.shape[0]):
                for until in (tm.trig_a[li], tm.ban_a[li], tm.trig_t[li], tm.ban_t[li]):
                    if t <= until < nt - 1:
                        nt = until + 1
    return nt


@nb.njit(nogil=True, cache=True, _nrt=False)
def run_chunk(mode_a, replay, seed, start, end, days, plan, cons, soc, inc, acc, fin, box,
              led, work, rout):
    """Run subjects start..end-1 of one type over `days` days; see the module docstring.
    Returns 1 if some subject had more records counting at once than the fifo holds.
    Compiled without reference counting (`_nrt=False`): it allocates nothing, and its
    working arrays (`work`) come from the caller."""
    beh, ch, kinds, score, lists = (plan.behaviours, plan.channels, plan.kinds, plan.score,
                                    plan.lists)
    cov = plan.regions.cov
    n_l = lists.below.shape[0]
    d, tm, st, fifo = work.draws, work.timers, work.st, work.fifo
    seed64 = np.uint64(seed)
    repair_key = _repair_seed(seed64)
    has_bans = False
    for li in range(n_l):
        if lists.dur[li] > 0:
            has_bans = True
    thresholds = lists.thresholds
    in_ptr = np.searchsorted(inc.target, start)
    # the channels that make false positives (in pass B), in order: the others are never
    # looked at on an event day
    n_fp = 0
    for c in range(ch.det.shape[0]):
        if not mode_a and ch.fp_kind[c] >= 0 and ch.fp_rate[c] > 0.0:
            d.fp_chan[n_fp] = c
            n_fp += 1
    dates = fin.next_change.shape[0] > 0
    overflow = 0
    for i in range(start, end):
        sg = soc.seg[i]
        row = i - start
        if sg < 0:
            if not mode_a:
                fin.score[row] = score.base
                fin.grade[row] = -1
                fin.mask[row] = 0
                fin.tmask[row] = 0
                if dates:
                    fin.next_change[row] = NEVER
                    fin.trig_until[row, :] = -1
                    fin.ban_until[row, :] = -1
            continue
        r = soc.region[i]
        jd = plan.regions.join_day[r]
        gid = soc.base + i  # the global id: random streams, record identities, ledger
        _start_subject(i, gid, sg, r, mode_a, seed64, days, plan, soc.traits, d, tm, st,
                       acc.acts, acc.reg_acts)
        while in_ptr < inc.target.shape[0] and inc.target[in_ptr] < i:
            in_ptr += 1
        kids = soc.n_children[i]
        t = 0
        while t < days:
            if st[_JOINED] == 0 and t >= jd:
                _rollout(t, i, r, mode_a, days, beh, ch, cov, soc.traits, d, st, acc.acts,
                         acc.reg_acts)
            n_due = _acts(t, d)
            if n_due:
                _sensing(t, i, r, n_due, mode_a, days, beh, plan.outcomes, ch, cov, soc, d,
                         st, acc.acts, acc.reg_acts)
            if mode_a:
                _outbox(t, gid, n_due, d, box)
            else:
                over, in_ptr = _records(t, i, gid, n_due, n_fp, days, replay, repair_key,
                                        in_ptr, kinds, ch, d, st, tm, inc, fifo, acc.rec,
                                        acc.false, led, rout)
                overflow |= over
                _expiry(t, score.window, kinds.points, st, fifo, rout)
                s = _scores(st, False, score, kinds.points, fifo)
                s, mask, tmask = _lists(t, s, has_bans, thresholds, score, kinds.points,
                                        lists, st, tm, fifo, rout)
                g = _grade(s, score.grade_min)
                bits, pub = _sanctions(sg, g, mask, cons, st)
                _metrics(t, sg, s, g, mask, tmask, bits, pub, kids, score.hist_lo, cons, st,
                         acc)
            nt = _next_day(t, i, in_ptr, n_fp, mode_a, score.window, d, st, tm, inc, fifo)
            if st[_JOINED] == 0 and jd < nt:
                nt = jd
            t = nt if nt > t else t + 1
        if not mode_a:
            fin.score[row] = st[_SCORE]
            fin.grade[row] = st[_GRADE]
            fin.mask[row] = st[_MASK]
            fin.tmask[row] = st[_TMASK]
            if dates:
                fin.next_change[row] = t
                for li in range(n_l):
                    fin.trig_until[row, li] = tm.trig_a[li]
                    fin.ban_until[row, li] = tm.ban_a[li]
            if rout.counts_until.shape[0] > 0:
                cap_mask = fifo.day.shape[0] - 1
                for j in range(st[_COUNT]):  # still counting: until they leave the window
                    pos = (st[_HEAD] + j) & cap_mask
                    if fifo.src[pos] >= 0 and (fifo.flags[pos] & VOID_ACTUAL) == 0:
                        rout.counts_until[fifo.src[pos]] = fifo.day[pos] + score.window - 1
            for li in range(n_l):
                if (st[_EVER] >> li) & 1:
                    acc.ever[sg, li] += 1
                if (st[_MASK] >> li) & 1:
                    acc.reg_list[r, li] += 1
    return overflow
