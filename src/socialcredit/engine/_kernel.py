"""The per-subject event kernel (Numba, CPU backend).

Each subject is run over all days at once, jumping from event to event: its next act of
each behaviour (geometric gaps, resampled when a rate changes), its next false positive,
its next incoming misattributed record, the expiry of its oldest record, and the end of
a timed listing. Scores and lists change only at those days, and every change is written
as a +1/-1 difference at its day, so daily series are exact after a cumulative sum.

The day's phase order (engine/_phases.py documents it) is applied within each event day:
acts, sensing, records (own, false positives, incoming), expiry, score, lists, metrics.

Pass A (mode_a=True) runs only the behaviours of channels that can misattribute, and
writes each misattributed record to an outbox addressed to its target. Pass B runs
everything and receives the outbox, sorted by (target, day), as incoming records.
"""

from __future__ import annotations

import math

import numba as nb
import numpy as np

from socialcredit.rng._core import stream_key, u01

NEVER = 1 << 40
FALSE = 1  # record flags, as written to the ledger
MISATTRIBUTED = 2
FALSE_POSITIVE = 4
VOID_ACTUAL = 8  # fifo-only flags: voided by a points-clearing ban
VOID_TRUE = 16

# slots of one act's draws in its stream (counter = 8 * act + slot); _DETECT is unused
# since detection is part of the sampled rate, and kept so the other slots keep their numbers
_GAP, _DETECT, _OUTCOME, _MISATTRIBUTE, _TARGET = 0, 1, 2, 3, 4
# indices in the per-subject state vector
_HEAD, _COUNT, _SUM_A, _SUM_T, _OVERFLOW, _TIMER_MAX, _FALSE_ACTIVE = 0, 1, 2, 3, 4, 5, 6
REPAIR_STREAM = np.uint64(0x5EB1A1C0FFEE1234)
ACT_SCALE = float(1 << 32)  # expected acts are accumulated in units of 2**-32


@nb.njit(inline="always", cache=True)
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


@nb.njit(inline="always", cache=True)
def _log_q(p: float) -> float:
    return math.log1p(-p) if 0.0 < p < 1.0 else -1.0


@nb.njit(inline="always", cache=True)
def _act_probability(b: int, i: int, joined: bool, region: int, b_rate: np.ndarray,
                     b_mult: np.ndarray, b_chan: np.ndarray, traits: np.ndarray,
                     cov: np.ndarray, c_cov: np.ndarray, c_deter: np.ndarray,
                     c_learn: np.ndarray, detections: np.ndarray) -> float:
    p = b_rate[b]
    if b_mult[b] >= 0:
        p *= traits[b_mult[b], i]
    if p > 1.0:
        p = 1.0
    c = b_chan[b]
    if joined and c_deter[c] > 0.0:
        seen = cov[region, c_cov[c]] if c_cov[c] >= 0 else 1.0
        seen += c_learn[c] * detections[c]
        if seen > 1.0:
            seen = 1.0
        p *= 1.0 - c_deter[c] * seen
    return p


@nb.njit(inline="always", cache=True)
def _set_rate(b, t, i, joined, r, mode_a, days, p_b, q_b, lq_b, b_rate, b_mult, b_chan,
              traits, cov, c_det, c_cov, c_deter, c_learn, detections, acc_acts,
              acc_reg_acts):
    """Set behaviour b's daily act probability from day t on, and the probability that
    an act is also recorded (detection x coverage, once the region has joined). Only
    recorded acts are sampled; acts themselves are counted in expectation, exactly,
    as differences of their probability."""
    p = _act_probability(b, i, joined, r, b_rate, b_mult, b_chan, traits, cov, c_cov, c_deter,
                         c_learn, detections)
    d = 0.0
    if joined:
        c = b_chan[b]
        d = c_det[c]
        if c_cov[c] >= 0:
            d *= cov[r, c_cov[c]]
    if not mode_a and t < days:
        # fixed point, so sums are exact and do not depend on the order of chunks
        delta = np.int64(round(p * ACT_SCALE)) - np.int64(round(p_b[b] * ACT_SCALE))
        acc_acts[t, b] += delta
        acc_reg_acts[t, r, b] += delta
    p_b[b] = p
    q_b[b] = p * d
    lq_b[b] = _log_q(q_b[b])


@nb.njit(cache=True)
def _score(st: np.ndarray, true_only: bool, base: int, agg: int, lo: int, hi: int,
           fifo_kind: np.ndarray, fifo_flags: np.ndarray, k_points: np.ndarray,
           cap_mask: int) -> int:
    if agg == 0:
        s = base + (st[_SUM_T] if true_only else st[_SUM_A])
    else:  # latest: the newest counting record, else the base
        s = base
        void = VOID_TRUE if true_only else VOID_ACTUAL
        for j in range(st[_COUNT] - 1, -1, -1):
            pos = (st[_HEAD] + j) & cap_mask
            f = fifo_flags[pos]
            if (f & void) == 0 and not (true_only and (f & FALSE) != 0):
                s = k_points[fifo_kind[pos]]
                break
    if s < lo:
        s = lo
    if s > hi:
        s = hi
    return s


@nb.njit(cache=True)
def _lists(t: int, s: int, trig_until: np.ndarray, ban_until: np.ndarray,
           l_below: np.ndarray, l_atleast: np.ndarray, l_excl: np.ndarray,
           l_dur: np.ndarray, l_clear: np.ndarray) -> tuple[int, bool]:
    mask = 0
    clear = False
    for li in range(l_below.shape[0]):
        on = trig_until[li] >= t or ban_until[li] >= t
        if not on and (s < l_below[li] or s >= l_atleast[li]) and (mask & l_excl[li]) == 0:
            on = True
            if l_dur[li] > 0:
                ban_until[li] = t + l_dur[li] - 1
                if l_clear[li]:
                    clear = True
        if on and (mask & l_excl[li]) == 0:
            mask |= 1 << li
    return mask, clear


@nb.njit(inline="always", cache=True)
def _void_all(st: np.ndarray, flag: int, fifo_flags: np.ndarray, cap_mask: int) -> None:
    for j in range(st[_COUNT]):
        pos = (st[_HEAD] + j) & cap_mask
        fifo_flags[pos] |= flag
    st[_SUM_A if flag == VOID_ACTUAL else _SUM_T] = 0


@nb.njit(inline="always", cache=True)
def _emit_state(t: int, sign: int, seg: int, s: int, g: int, mask: int, tmask: int,
                kids: int, spill_mask: int, nl: int, hist_lo: int,
                acc_grade: np.ndarray, acc_list: np.ndarray, acc_wrong: np.ndarray,
                acc_child: np.ndarray, acc_hist: np.ndarray) -> None:
    b = s - hist_lo
    if b < 0:
        b = 0
    if b >= acc_hist.shape[1]:
        b = acc_hist.shape[1] - 1
    acc_hist[t, b] += sign
    acc_grade[t, seg, g] += sign
    for li in range(nl):
        if (mask >> li) & 1:
            acc_list[t, seg, li] += sign
            acc_child[t, li] += sign * kids
            if not (tmask >> li) & 1:
                acc_wrong[t, seg, li] += sign
    if (mask & spill_mask) != 0:
        acc_child[t, nl] += sign * kids


@nb.njit(nogil=True, cache=True)
def run_chunk(  # noqa: C901, PLR0912, PLR0913, PLR0915 - one tight loop, on purpose
    mode_a, seed, stype, start, end, days,
    region, seg, traits, n_children,
    join_day, cov,
    b_rate, b_mult, b_chan, b_stream, b_os, b_oe, b_segmask,
    o_kind, o_prob, o_trait, o_compl,
    k_points, k_trig, k_tdays, k_rafter, k_rprob,
    c_det, c_cov, c_mis, c_deter, c_learn, c_fp_rate, c_fp_kind, c_fp_stream,
    base, window, agg, clamp_lo, clamp_hi, grade_min,
    l_below, l_atleast, l_excl, l_dur, l_clear, spill_mask,
    pool, pool_off,
    in_target, in_day, in_kind, in_src, in_flags,
    hist_lo,
    acc_grade, acc_list, acc_wrong, acc_child, acc_hist,
    acc_rec, acc_false, acc_acts, acc_reg_acts, acc_reg_list, acc_ever,
    out_score, out_grade, out_mask, out_tmask,
    box_target, box_day, box_kind, box_src, box_n,
    led_on, led_day, led_subj, led_kind, led_flags, led_doer, led_n,
    fifo_day, fifo_kind, fifo_flags,
):
    n_b = b_rate.shape[0]
    n_c = c_det.shape[0]
    n_l = l_below.shape[0]
    n_k = k_points.shape[0]
    n_g = grade_min.shape[0] + 1
    cap_mask = fifo_day.shape[0] - 1
    seed64 = np.uint64(seed)
    keys = np.empty(n_b, dtype=np.uint64)
    counter = np.zeros(n_b, dtype=np.int64)
    current = np.zeros(n_b, dtype=np.int64)
    next_b = np.empty(n_b, dtype=np.int64)
    p_b = np.zeros(n_b, dtype=np.float64)
    q_b = np.zeros(n_b, dtype=np.float64)
    active_b = np.zeros(n_b, dtype=np.bool_)
    lq_b = np.zeros(n_b, dtype=np.float64)
    lq_fp = np.zeros(n_c, dtype=np.float64)
    for c in range(n_c):
        lq_fp[c] = _log_q(c_fp_rate[c])
    fp_keys = np.empty(n_c, dtype=np.uint64)
    fp_counter = np.zeros(n_c, dtype=np.int64)
    fp_current = np.zeros(n_c, dtype=np.int64)
    next_fp = np.empty(n_c, dtype=np.int64)
    detections = np.zeros(n_c, dtype=np.float64)
    trig_a = np.empty(n_l, dtype=np.int64)
    ban_a = np.empty(n_l, dtype=np.int64)
    trig_t = np.empty(n_l, dtype=np.int64)
    ban_t = np.empty(n_l, dtype=np.int64)
    st = np.zeros(8, dtype=np.int64)
    n_in = in_target.shape[0]
    fp_channels = np.flatnonzero((c_fp_kind >= 0) & (c_fp_rate > 0.0))
    has_bans = False
    for li in range(n_l):
        if l_dur[li] > 0:
            has_bans = True
    # score thresholds, sorted: lists that depend on the score alone can only change
    # when the score leaves the band between two neighbouring thresholds
    thresholds = np.sort(np.concatenate((l_below, l_atleast)))
    in_ptr = np.searchsorted(in_target, start)
    overflow = 0

    for i in range(start, end):
        sg = seg[i]
        li_out = i - start
        if sg < 0:
            if not mode_a:
                out_score[li_out] = base
                out_grade[li_out] = -1
                out_mask[li_out] = 0
                out_tmask[li_out] = 0
            continue
        r = region[i]
        jd = join_day[r]
        joined = jd <= 0
        for c in range(n_c):
            detections[c] = 0.0
        for b in range(n_b):
            counter[b] = 0
            keys[b] = stream_key(seed64, stype, i, b_stream[b])
            active = (b_segmask[b] >> sg) & 1
            if mode_a and c_mis[b_chan[b]] <= 0.0:
                active = 0
            active_b[b] = active != 0
            p_b[b] = 0.0
            q_b[b] = 0.0
            lq_b[b] = 0.0
            if active:
                _set_rate(b, 0, i, joined, r, mode_a, days, p_b, q_b, lq_b, b_rate, b_mult,
                          b_chan, traits, cov, c_det, c_cov, c_deter, c_learn, detections,
                          acc_acts, acc_reg_acts)
            next_b[b] = _schedule(keys[b], counter, current, b, q_b[b], lq_b[b], 0, days)
        learned = False
        for c in range(n_c):
            fp_counter[c] = 0
            next_fp[c] = NEVER
            if not mode_a and c_fp_kind[c] >= 0 and c_fp_rate[c] > 0.0:
                fp_keys[c] = stream_key(seed64, stype, i, c_fp_stream[c])
                next_fp[c] = _schedule(fp_keys[c], fp_counter, fp_current, c, c_fp_rate[c],
                                       lq_fp[c], max(jd, 0), days)
        repair_key = stream_key(seed64, stype, i, REPAIR_STREAM)
        while in_ptr < n_in and in_target[in_ptr] < i:
            in_ptr += 1
        st[:] = 0
        st[_TIMER_MAX] = -1
        trig_a[:] = -1
        ban_a[:] = -1
        trig_t[:] = -1
        ban_t[:] = -1
        kids = n_children[i]
        ever = 0
        prev_s = 0
        prev_g = 0
        prev_mask = 0
        prev_tmask = 0
        first = True
        band_lo = NEVER
        band_hi = -NEVER
        t = 0
        while t < days:
            if not joined and t >= jd:
                joined = True
                for b in range(n_b):
                    if active_b[b]:
                        _set_rate(b, t, i, joined, r, mode_a, days, p_b, q_b, lq_b, b_rate,
                                  b_mult, b_chan, traits, cov, c_det, c_cov, c_deter, c_learn,
                                  detections, acc_acts, acc_reg_acts)
                        next_b[b] = _schedule(keys[b], counter, current, b, q_b[b], lq_b[b], t,
                                              days)
            # phase 1-3: acts, sensing, own records
            next_act = NEVER
            for b in range(n_b):
                if next_b[b] != t:
                    if next_b[b] < next_act:
                        next_act = next_b[b]
                    continue
                # a recorded act (acts that no channel sees are not sampled)
                n = current[b]
                c = b_chan[b]
                # outcome: each in turn, given that none before it was chosen
                kind = o_kind[b_oe[b] - 1]
                u = u01(keys[b], n * 8 + _OUTCOME) if b_oe[b] - b_os[b] > 1 else 1.0
                for o in range(b_os[b], b_oe[b] - 1):
                    p = o_prob[o] if o_trait[o] < 0 else traits[o_trait[o], i]
                    if o_compl[o]:
                        p = 1.0 - p
                    if u < p:
                        kind = o_kind[o]
                        break
                    u = (u - p) / (1.0 - p) if p < 1.0 else 0.5
                target = -1
                if c_mis[c] > 0.0 and u01(keys[b], n * 8 + _MISATTRIBUTE) < c_mis[c]:
                    lo = pool_off[r]
                    size = pool_off[r + 1] - lo
                    if size > 1:
                        me = np.searchsorted(pool[lo:lo + size], i)
                        j = int(u01(keys[b], n * 8 + _TARGET) * (size - 1))
                        if j >= me:
                            j += 1
                        target = pool[lo + j]
                if target >= 0:
                    if mode_a:
                        m = box_n[0]
                        if m < box_target.shape[0]:
                            box_target[m] = target
                            box_day[m] = t
                            box_kind[m] = kind
                            box_src[m] = i
                        box_n[0] = m + 1
                elif not mode_a:
                    overflow |= _push(t, kind, 0, i, i, st, fifo_day, fifo_kind,
                                      fifo_flags, cap_mask, k_points, k_trig, k_tdays,
                                      k_rafter, k_rprob, trig_a, trig_t, repair_key,
                                      n_k, acc_rec, acc_false, led_on, led_day,
                                      led_subj, led_kind, led_flags, led_doer, led_n)
                if c_learn[c] > 0.0:
                    # own detections raise perceived coverage of this channel
                    detections[c] += 1.0
                    learned = True
                    for b2 in range(n_b):
                        if b_chan[b2] == c and active_b[b2]:
                            _set_rate(b2, t + 1, i, joined, r, mode_a, days, p_b, q_b,
                                      lq_b, b_rate, b_mult, b_chan, traits, cov, c_det,
                                      c_cov, c_deter, c_learn, detections, acc_acts,
                                      acc_reg_acts)
                            if b2 != b:
                                next_b[b2] = _schedule(keys[b2], counter, current, b2,
                                                       q_b[b2], lq_b[b2], t + 1, days)
                next_b[b] = _schedule(keys[b], counter, current, b, q_b[b], lq_b[b], t + 1,
                                      days)
                if next_b[b] < next_act:
                    next_act = next_b[b]
            if learned:
                # a learning update may have moved acts of behaviours already passed
                next_act = NEVER
                for b in range(n_b):
                    if next_b[b] < next_act:
                        next_act = next_b[b]
                learned = False
            if not mode_a:
                for c in fp_channels:
                    if next_fp[c] == t:
                        overflow |= _push(t, c_fp_kind[c], FALSE | FALSE_POSITIVE, -1, i, st,
                                          fifo_day, fifo_kind, fifo_flags, cap_mask, k_points,
                                          k_trig, k_tdays, k_rafter, k_rprob, trig_a, trig_t,
                                          repair_key, n_k, acc_rec, acc_false, led_on, led_day,
                                          led_subj, led_kind, led_flags, led_doer, led_n)
                        next_fp[c] = _schedule(fp_keys[c], fp_counter, fp_current, c,
                                               c_fp_rate[c], lq_fp[c], t + 1, days)
                while in_ptr < n_in and in_target[in_ptr] == i and in_day[in_ptr] == t:
                    overflow |= _push(t, in_kind[in_ptr], in_flags[in_ptr], in_src[in_ptr],
                                      i, st, fifo_day, fifo_kind, fifo_flags, cap_mask,
                                      k_points, k_trig, k_tdays, k_rafter, k_rprob, trig_a,
                                      trig_t, repair_key, n_k, acc_rec, acc_false, led_on,
                                      led_day, led_subj, led_kind, led_flags, led_doer, led_n)
                    in_ptr += 1
                # phase 4: expiry of records older than the window
                while st[_COUNT] > 0 and fifo_day[st[_HEAD]] + window <= t:
                    pos = st[_HEAD]
                    f = fifo_flags[pos]
                    pts = k_points[fifo_kind[pos]]
                    if (f & VOID_ACTUAL) == 0:
                        st[_SUM_A] -= pts
                    if (f & (VOID_TRUE | FALSE)) == 0:
                        st[_SUM_T] -= pts
                    if f & FALSE:
                        st[_FALSE_ACTIVE] -= 1
                    st[_HEAD] = (pos + 1) & cap_mask
                    st[_COUNT] -= 1
                # phases 5-6: score, grade, lists (actual and without false records)
                if agg == 0:
                    s = base + st[_SUM_A]
                    s = clamp_lo if s < clamp_lo else (clamp_hi if s > clamp_hi else s)
                else:
                    s = _score(st, False, base, agg, clamp_lo, clamp_hi, fifo_kind, fifo_flags,
                               k_points, cap_mask)
                if (not has_bans and st[_TIMER_MAX] < t and band_lo <= s < band_hi
                        and not first):
                    mask = prev_mask
                    clear = False
                else:
                    mask, clear = _lists(t, s, trig_a, ban_a, l_below, l_atleast, l_excl,
                                         l_dur, l_clear)
                    if not has_bans and st[_TIMER_MAX] < t:
                        k = np.searchsorted(thresholds, s, side="right")
                        band_lo = thresholds[k - 1] if k > 0 else -NEVER
                        band_hi = thresholds[k] if k < thresholds.shape[0] else NEVER
                    else:
                        band_lo = NEVER
                        band_hi = -NEVER
                if clear:
                    _void_all(st, VOID_ACTUAL, fifo_flags, cap_mask)
                    s = _score(st, False, base, agg, clamp_lo, clamp_hi, fifo_kind, fifo_flags,
                               k_points, cap_mask)
                    mask, clear = _lists(t, s, trig_a, ban_a, l_below, l_atleast, l_excl, l_dur,
                                         l_clear)
                if has_bans:
                    for li in range(n_l):
                        if ban_a[li] > st[_TIMER_MAX]:
                            st[_TIMER_MAX] = ban_a[li]
                # without false records the counterfactual is the actual state
                same = agg == 0 and st[_FALSE_ACTIVE] == 0 and st[_SUM_A] == st[_SUM_T]
                if same and st[_TIMER_MAX] >= t:
                    for li in range(n_l):
                        if trig_t[li] != trig_a[li] or ban_t[li] != ban_a[li]:
                            same = False
                if same and not has_bans:
                    s_true = s
                    tmask = mask
                else:
                    s_true = _score(st, True, base, agg, clamp_lo, clamp_hi, fifo_kind,
                                    fifo_flags, k_points, cap_mask)
                    tmask, tclear = _lists(t, s_true, trig_t, ban_t, l_below, l_atleast,
                                           l_excl, l_dur, l_clear)
                    if tclear:
                        _void_all(st, VOID_TRUE, fifo_flags, cap_mask)
                        s_true = _score(st, True, base, agg, clamp_lo, clamp_hi, fifo_kind,
                                        fifo_flags, k_points, cap_mask)
                        tmask, tclear = _lists(t, s_true, trig_t, ban_t, l_below, l_atleast,
                                               l_excl, l_dur, l_clear)
                    if has_bans:
                        for li in range(n_l):
                            if ban_t[li] > st[_TIMER_MAX]:
                                st[_TIMER_MAX] = ban_t[li]
                g = 0
                while g < n_g - 1 and s < grade_min[g]:
                    g += 1
                # phase 8: metrics, as differences at change points
                if first:
                    _emit_state(t, 1, sg, s, g, mask, tmask, kids, spill_mask, n_l, hist_lo,
                                acc_grade, acc_list, acc_wrong, acc_child, acc_hist)
                    first = False
                elif s != prev_s or g != prev_g or mask != prev_mask or tmask != prev_tmask:
                    if mask != prev_mask or tmask != prev_tmask:
                        _emit_state(t, -1, sg, prev_s, prev_g, prev_mask, prev_tmask, kids,
                                    spill_mask, n_l, hist_lo, acc_grade, acc_list, acc_wrong,
                                    acc_child, acc_hist)
                        _emit_state(t, 1, sg, s, g, mask, tmask, kids, spill_mask, n_l,
                                    hist_lo, acc_grade, acc_list, acc_wrong, acc_child,
                                    acc_hist)
                    else:  # the common case: only the score (and maybe the grade) moved
                        nbins = acc_hist.shape[1]
                        acc_hist[t, min(max(prev_s - hist_lo, 0), nbins - 1)] -= 1
                        acc_hist[t, min(max(s - hist_lo, 0), nbins - 1)] += 1
                        if g != prev_g:
                            acc_grade[t, sg, prev_g] -= 1
                            acc_grade[t, sg, g] += 1
                prev_s = s
                prev_g = g
                prev_mask = mask
                prev_tmask = tmask
                ever |= mask
            # the next day on which anything can change
            nt = next_act
            if not joined and jd < nt:
                nt = jd
            if not mode_a:
                for c in fp_channels:
                    if next_fp[c] < nt:
                        nt = next_fp[c]
                if in_ptr < n_in and in_target[in_ptr] == i and in_day[in_ptr] < nt:
                    nt = in_day[in_ptr]
                if st[_COUNT] > 0 and fifo_day[st[_HEAD]] + window < nt:
                    nt = fifo_day[st[_HEAD]] + window
                if st[_TIMER_MAX] >= t:
                    for li in range(n_l):
                        for until in (trig_a[li], ban_a[li], trig_t[li], ban_t[li]):
                            if t <= until < nt - 1:
                                nt = until + 1
            if nt <= t:
                nt = t + 1
            t = nt
        if not mode_a:
            out_score[li_out] = prev_s
            out_grade[li_out] = prev_g
            out_mask[li_out] = prev_mask
            out_tmask[li_out] = prev_tmask
            for li in range(n_l):
                if (ever >> li) & 1:
                    acc_ever[sg, li] += 1
                if (prev_mask >> li) & 1:
                    acc_reg_list[r, li] += 1
    return overflow | st[_OVERFLOW]


@nb.njit(inline="always", cache=True)
def _push(t, kind, flags, doer, subject, st, fifo_day, fifo_kind, fifo_flags, cap_mask,
          k_points, k_trig, k_tdays, k_rafter, k_rprob, trig_a, trig_t, repair_key, n_k,
          acc_rec, acc_false, led_on, led_day, led_subj, led_kind, led_flags, led_doer,
          led_n) -> int:
    """Append one record against `subject` (request), and apply its trigger (resolve)."""
    if st[_COUNT] > cap_mask:
        return 1
    pos = (st[_HEAD] + st[_COUNT]) & cap_mask
    fifo_day[pos] = t
    fifo_kind[pos] = kind
    fifo_flags[pos] = flags
    st[_COUNT] += 1
    pts = k_points[kind]
    st[_SUM_A] += pts
    acc_rec[t, kind] += 1
    if flags & FALSE:
        acc_false[t, kind] += 1
        st[_FALSE_ACTIVE] += 1
    else:
        st[_SUM_T] += pts
    li = k_trig[kind]
    if li >= 0:
        until = t + k_tdays[kind] - 1
        if k_rprob[kind] > 0.0 and u01(repair_key, t * n_k + kind) < k_rprob[kind]:
            until = t + k_rafter[kind] - 1
        if until > st[_TIMER_MAX]:
            st[_TIMER_MAX] = until
        if until > trig_a[li]:
            trig_a[li] = until
        if (flags & FALSE) == 0 and until > trig_t[li]:
            trig_t[li] = until
    if led_on:
        m = led_n[0]
        if m < led_day.shape[0]:
            led_day[m] = t
            led_subj[m] = subject
            led_kind[m] = kind
            led_flags[m] = flags
            led_doer[m] = doer
        led_n[0] = m + 1
    return 0
