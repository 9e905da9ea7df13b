"""The NumPy backend: the plan interpreted day by day, for all subjects at once.

It is slow (it steps through every day, and keeps every record in one table) and
written to be read: each phase of `engine/_phases.py` is a method of the same name,
working on arrays over the chunk's subjects. It draws from the same counter-based
streams as the Numba kernel, so the two agree subject by subject, record by record; the
tests hold the kernel to it for every built-in scenario. It is the readable statement of
the rules and the yardstick for any other backend.

One implementation detail is deliberate: logarithms of draws go through Python's `math`
(the C library's `log`, which the kernel also calls). NumPy's vectorised `log` can differ
from it in the last bit, which could move a geometric gap by a day once in a while.
"""

from __future__ import annotations

import math
from collections import defaultdict

import numpy as np

from socialcredit.engine import _layout as L
from socialcredit.engine._backend import Job, Sent
from socialcredit.engine._decide import applying, decide, disclosed
from socialcredit.engine._identity import (
    record_identity,
    repair_seed,
    repaired,
    sim_record_id,
    sim_subject_id,
)
from socialcredit.engine._kernel import (
    _GAP,
    _MISATTRIBUTE,
    _OUTCOME,
    _TARGET,
    ACT_SCALE,
    FALSE,
    FALSE_POSITIVE,
    NEVER,
)
from socialcredit.errors import SocialCreditError

_GAMMA = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix64(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _stream_key(seed: int, subject_type: int, subjects: np.ndarray, stream: int) -> np.ndarray:
    """rng.stream_key over an array of subjects."""
    with np.errstate(over="ignore"):
        s = subjects.astype(np.uint64) + np.uint64(subject_type) * (np.uint64(1) << np.uint64(40))
        inner = _mix64(s * _GAMMA + np.uint64(stream))
        return _mix64(_mix64(np.uint64(seed) ^ inner) + np.uint64(stream))


def _u01(keys: np.ndarray, counters: np.ndarray) -> np.ndarray:
    """rng.u01 over arrays of keys and counters: uniforms in (0, 1)."""
    with np.errstate(over="ignore"):
        x = _mix64(keys + (counters.astype(np.uint64) + np.uint64(1)) * _GAMMA)
    return ((x >> np.uint64(11)).astype(np.float64) + 0.5) * (1.0 / 9007199254740992.0)


def _libm(fn, x: np.ndarray) -> np.ndarray:  # noqa: ANN001 - math.log or math.log1p
    return np.fromiter(map(fn, x.tolist()), np.float64, x.shape[0])


def _log_q(p: np.ndarray) -> np.ndarray:
    out = np.full(p.shape, -1.0)
    inside = (p > 0.0) & (p < 1.0)
    out[inside] = _libm(math.log1p, -p[inside])
    return out


class NumpyBackend:
    """The plan, day by day, in NumPy (see the module docstring)."""

    name = "numpy"

    def outbox(self, job: Job, start: int, end: int) -> Sent:
        return _Chunk(job, start, end, mode_a=True).run()

    def score(self, job: Job, start: int, end: int, incoming: L.Incoming,
              acc: L.Accumulators, final: L.Final, ledger: bool,
              records: L.RecordOut) -> dict[str, np.ndarray] | None:
        chunk = _Chunk(job, start, end, mode_a=False, incoming=incoming, acc=acc,
                       final=final, records=records)
        chunk.run()
        return chunk.ledger_rows() if ledger else None


class _Chunk:
    """Subjects start..end-1 of one job, stepped through its days."""

    def __init__(self, job: Job, start: int, end: int, mode_a: bool,
                 incoming: L.Incoming | None = None, acc: L.Accumulators | None = None,
                 final: L.Final | None = None, records: L.RecordOut | None = None) -> None:
        self.job, self.plan = job, job.plan
        self.a, self.cons = job.plan.arrays, job.plan.consequences
        self.soc, self.days, self.mode_a = job.society, job.days, mode_a
        self.start, self.end = start, end
        self.acc, self.final, self.rout = acc, final, records
        seg = self.soc.seg[start:end]
        self.ids = np.arange(start, end)[seg >= 0]          # simulated subjects (index here)
        self.gids = self.ids + self.soc.base                # ... their global ids
        self.seg = seg[seg >= 0].astype(np.int64)
        self.region = self.soc.region[self.ids].astype(np.int64)
        self.kids = self.soc.n_children[self.ids].astype(np.int64)
        self.n = self.ids.shape[0]
        inc = incoming if incoming is not None else L.no_incoming()
        mine = (inc.target >= start) & (inc.target < end)
        self.incoming = {k: v[mine] for k, v in inc._asdict().items()}
        self.incoming["index"] = np.flatnonzero(mine)
        self.local = np.full(end - start, -1, np.int64)     # global index -> row here
        self.local[self.ids - start] = np.arange(self.n)
        self.sent: list[tuple[int, int, int, int, int]] = []  # (src, day, b, target, kind)
        self.repair_key = repair_seed(job.seed)
        self._records_init()

    # ------------------------------------------------------------------ the day loop
    def run(self) -> Sent | None:
        self.start_subjects()
        for t in range(self.days):
            self.rollout(t)
            due = self.acts(t)
            acted = self.sensing(t, due)
            if self.mode_a:
                self.outbox(t, acted)
                continue
            self.records(t, acted)
            self.expiry(t)
            s = self.scores(t, true_only=False)
            s, mask, tmask = self.lists(t, s)
            g = self.grade(s)
            bits, pub = self.sanctions(g, mask)
            self.metrics(t, s, g, mask, tmask, bits, pub)
        if self.mode_a:
            return self.sent_arrays()
        self.finish()
        return None

    # ------------------------------------------------------------------ set-up
    def start_subjects(self) -> None:
        """Keys, rates and the first scheduled recorded acts and false positives."""
        a, n = self.a, self.n
        beh, ch = a.behaviours, a.channels
        nb_, nc = beh.rate.shape[0], ch.det.shape[0]
        self.join = a.regions.join_day[self.region]
        self.joined = self.join <= 0
        self.keys = np.stack([_stream_key(self.job.seed, a.subject_type, self.gids, s)
                              for s in beh.stream]) if nb_ else np.zeros((0, n), np.uint64)
        self.counter = np.zeros((nb_, n), np.int64)
        self.current = np.zeros((nb_, n), np.int64)
        self.p = np.zeros((nb_, n))
        self.q = np.zeros((nb_, n))
        self.lq = np.zeros((nb_, n))
        self.detections = np.zeros((nc, n))
        segmask = beh.segmask[:, None] if nb_ else np.zeros((0, 1), np.int64)
        self.active = ((segmask >> self.seg[None, :]) & 1) != 0
        if self.mode_a:
            self.active &= (ch.mis[beh.chan] > 0.0)[:, None]
        self.next = np.full((nb_, n), NEVER, np.int64)
        for b in range(nb_):
            who = np.flatnonzero(self.active[b])
            self.set_rate(b, 0, who)
            self.schedule(b, who, 0)
        self.fp_keys = np.zeros((nc, n), np.uint64)
        self.fp_counter = np.zeros((nc, n), np.int64)
        self.next_fp = np.full((nc, n), NEVER, np.int64)
        if not self.mode_a:
            for c in range(nc):
                if ch.fp_kind[c] >= 0 and ch.fp_rate[c] > 0.0:
                    self.fp_keys[c] = _stream_key(self.job.seed, a.subject_type, self.gids,
                                                  ch.fp_stream[c])
                    self.schedule_fp(c, np.arange(n), np.maximum(self.join, 0))
        nl = a.lists.below.shape[0]
        self.trig_a = np.full((nl, n), -1, np.int64)
        self.ban_a = np.full((nl, n), -1, np.int64)
        self.trig_t = np.full((nl, n), -1, np.int64)
        self.ban_t = np.full((nl, n), -1, np.int64)
        self.prev_levels: dict[str, np.ndarray] = {}
        self.ever = np.zeros(n, np.int64)

    def set_rate(self, b: int, t: int, who: np.ndarray) -> None:
        """Behaviour b's daily act probability from day t on (rate x multiplier x
        deterrence where watched), and the probability that an act is recorded."""
        if who.size == 0:
            return
        a = self.a
        beh, ch, cov = a.behaviours, a.channels, a.regions.cov
        c = beh.chan[b]
        p = np.full(who.size, beh.rate[b])
        if beh.mult[b] >= 0:
            p = p * self.soc.traits[beh.mult[b], self.ids[who]].astype(np.float64)
        p = np.minimum(p, 1.0)
        joined = self.joined[who]
        r = self.region[who]
        watched = cov[r, ch.cov[c]] if ch.cov[c] >= 0 else np.ones(who.size)
        if ch.deter[c] > 0.0:
            seen = np.minimum(watched + ch.learn[c] * self.detections[c, who], 1.0)
            p = np.where(joined, p * (1.0 - ch.deter[c] * seen), p)
        det = np.where(joined, ch.det[c] * watched if ch.cov[c] >= 0 else ch.det[c], 0.0)
        if not self.mode_a and t < self.days:
            delta = (np.rint(p * ACT_SCALE).astype(np.int64)
                     - np.rint(self.p[b, who] * ACT_SCALE).astype(np.int64))
            self.acc.acts[t, b] += delta.sum()
            np.add.at(self.acc.reg_acts[t, :, b], r, delta)
        self.p[b, who] = p
        self.q[b, who] = p * det
        self.lq[b, who] = _log_q(self.q[b, who])

    def schedule(self, b: int, who: np.ndarray, first: int) -> None:
        """The next recorded act of b on or after `first` (geometric gaps)."""
        q = self.q[b, who]
        drawn = who[q > 0.0]
        self.next[b, who[q <= 0.0]] = NEVER
        n = self.counter[b, drawn]
        self.counter[b, drawn] = n + 1
        self.current[b, drawn] = n
        self.next[b, drawn] = self._gap_day(self.keys[b, drawn], n, self.q[b, drawn],
                                            self.lq[b, drawn], first)

    def schedule_fp(self, c: int, who: np.ndarray, first: np.ndarray | int) -> None:
        rate = float(self.a.channels.fp_rate[c])
        n = self.fp_counter[c, who]
        self.fp_counter[c, who] = n + 1
        self.next_fp[c, who] = self._gap_day(self.fp_keys[c, who], n, np.full(who.size, rate),
                                             _log_q(np.full(who.size, rate)), first)

    def _gap_day(self, keys: np.ndarray, n: np.ndarray, q: np.ndarray, lq: np.ndarray,
                 first: np.ndarray | int) -> np.ndarray:
        first = np.broadcast_to(np.asarray(first, np.int64), keys.shape)
        out = np.full(keys.shape, NEVER, np.int64)
        certain = q >= 1.0
        out[certain] = first[certain]
        m = ~certain
        u = _u01(keys[m], n[m] * 8 + _GAP)
        gap = np.floor(_libm(math.log, u) / lq[m])
        day = first[m] + np.where(gap < self.days, gap, 0).astype(np.int64)
        out[m] = np.where((gap < self.days) & (day < self.days), day, NEVER)
        return out

    # ------------------------------------------------------------------ phases
    def rollout(self, t: int) -> None:
        """Regions that join today: rates and schedules from today."""
        who = np.flatnonzero(~self.joined & (self.join <= t))
        if who.size == 0:
            return
        self.joined[who] = True
        for b in range(self.a.behaviours.rate.shape[0]):
            w = who[self.active[b, who]]
            self.set_rate(b, t, w)
            self.schedule(b, w, t)

    def acts(self, t: int) -> np.ndarray:
        """Phase 1: (behaviours, subjects) with a recorded act today."""
        return self.next == t

    def sensing(self, t: int, due: np.ndarray) -> list[tuple[int, np.ndarray, np.ndarray,
                                                             np.ndarray]]:
        """Phase 2: each recorded act's record kind and misattribution target; learning
        from own detections from tomorrow; the next acts. Returns, per behaviour in order,
        (b, subjects, kinds, targets)."""
        a = self.a
        beh, out, ch = a.behaviours, a.outcomes, a.channels
        acted = []
        learned = np.zeros_like(self.detections, dtype=bool)
        for b in range(beh.rate.shape[0]):
            who = np.flatnonzero(due[b])
            if who.size == 0:
                continue
            n = self.current[b, who]
            keys = self.keys[b, who]
            c = beh.chan[b]
            kind = np.full(who.size, out.kind[beh.oe[b] - 1])
            u = (_u01(keys, n * 8 + _OUTCOME) if beh.oe[b] - beh.os[b] > 1
                 else np.ones(who.size))
            open_ = np.ones(who.size, bool)
            for o in range(beh.os[b], beh.oe[b] - 1):
                p = (np.full(who.size, out.prob[o]) if out.trait[o] < 0
                     else self.soc.traits[out.trait[o], self.ids[who]].astype(np.float64))
                if out.compl[o]:
                    p = 1.0 - p
                chosen = open_ & (u < p)
                kind[chosen] = out.kind[o]
                rest = open_ & ~chosen
                u = np.where(rest, np.where(p < 1.0, (u - p) / np.where(p < 1.0, 1.0 - p, 1.0),
                                            0.5), u)
                open_ = rest
            target = np.full(who.size, -1, np.int64)
            if ch.mis[c] > 0.0:
                mis = _u01(keys, n * 8 + _MISATTRIBUTE) < ch.mis[c]
                target[mis] = self._targets(who[mis], keys[mis], n[mis])
            acted.append((b, who, kind, target))
            if ch.learn[c] > 0.0:
                self.detections[c, who] += 1.0
                learned[c, who] = True
        for b in range(beh.rate.shape[0]):
            relearn = learned[beh.chan[b]] & self.active[b]
            self.set_rate(b, t + 1, np.flatnonzero(relearn))
            self.schedule(b, np.flatnonzero(relearn | due[b]), t + 1)
        return acted

    def _targets(self, who: np.ndarray, keys: np.ndarray, n: np.ndarray) -> np.ndarray:
        """Another simulated subject of the same region, uniformly (-1 if none)."""
        soc = self.soc
        ids = self.ids[who]
        r = self.region[who]
        lo, hi = soc.pool_off[r], soc.pool_off[r + 1]
        size = hi - lo
        me = np.array([np.searchsorted(soc.pool[x:y], i) for x, y, i in zip(lo, hi, ids,
                                                                              strict=True)],
                      np.int64)
        k = (_u01(keys, n * 8 + _TARGET) * (size - 1)).astype(np.int64)
        k = k + (k >= me)
        return np.where(size > 1, soc.pool[np.minimum(lo + k, soc.pool.shape[0] - 1)], -1)

    def outbox(self, t: int, acted: list) -> None:
        """Pass A: misattributed records, addressed to their targets."""
        for b, who, kind, target in acted:
            for j in np.flatnonzero(target >= 0):
                self.sent.append((int(self.gids[who[j]]), t, b, int(target[j]), int(kind[j])))

    def records(self, t: int, acted: list) -> None:
        """Phase 3: own recorded acts (not misattributed), false positives, then
        incoming records, in this order for each subject."""
        for _, who, kind, target in acted:
            own = target < 0
            self.push(t, who[own], kind[own], 0, self.gids[who[own]], -1)
        ch = self.a.channels
        for c in range(ch.det.shape[0]):
            who = np.flatnonzero(self.next_fp[c] == t)
            if who.size:
                self.push(t, who, np.full(who.size, ch.fp_kind[c]), FALSE | FALSE_POSITIVE,
                          np.full(who.size, -1), -1)
                self.schedule_fp(c, who, t + 1)
        inc = self.incoming
        today = np.flatnonzero(inc["day"] == t)
        for j in today:  # in the incoming order, which is the order of delivery
            row = self.local[inc["target"][j] - self.start]
            self.push(t, np.array([row]), inc["kind"][j:j + 1], int(inc["flags"][j]),
                      inc["src"][j:j + 1], int(inc["index"][j]), key=int(inc["key"][j]))

    # the record table: every record pushed, with what happened to it
    def _records_init(self) -> None:
        self.r_row: list[int] = []
        self.r_day: list[int] = []
        self.r_kind: list[int] = []
        self.r_flags: list[int] = []
        self.r_doer: list[int] = []
        self.r_src: list[int] = []
        self.r_void_a: list[bool] = []
        self.r_void_t: list[bool] = []
        self.count = np.zeros(self.n, np.int64)
        self.dup: dict[tuple[int, int, int], int] = defaultdict(int)

    def push(self, t: int, rows: np.ndarray, kinds: np.ndarray, flags: int,
             doers: np.ndarray, src: int, key: int = 0) -> None:
        """Append records against subjects (request) and apply their triggers (resolve)."""
        kk = self.a.kinds
        for row, kind, doer in zip(rows.tolist(), kinds.tolist(), doers.tolist(), strict=True):
            if self.count[row] >= self.job.fifo_capacity:  # the kernel's ring buffer is full
                raise SocialCreditError(
                    f"a subject had more than {self.job.fifo_capacity - 1} records counting"
                    " at once (misattributed records from others piled up); lower the"
                    " misattribution or the score window")
            self.r_row.append(row)
            self.r_day.append(t)
            self.r_kind.append(kind)
            self.r_flags.append(flags)
            self.r_doer.append(doer)
            self.r_src.append(src)
            self.r_void_a.append(False)
            self.r_void_t.append(False)
            self.count[row] += 1
            self.acc.rec[t, kind] += 1
            if flags & FALSE:
                self.acc.false[t, kind] += 1
            li = kk.trig[kind]
            if li < 0:
                continue
            until = t + kk.tdays[kind] - 1
            if kk.rprob[kind] > 0.0:
                if not self.job.replay:
                    i = int(self.gids[row])
                    name = self.plan.kinds[kind].name
                    dup = self.dup[(i, t, kind)]
                    self.dup[(i, t, kind)] = dup + 1
                    sid = sim_subject_id(self.plan.type_name, i)
                    key = record_identity(sid, sim_record_id(sid, t, name, dup))
                if repaired(self.repair_key, key, float(kk.rprob[kind])):
                    until = t + kk.rafter[kind] - 1
            self.trig_a[li, row] = max(self.trig_a[li, row], until)
            if not flags & FALSE:
                self.trig_t[li, row] = max(self.trig_t[li, row], until)
            if src >= 0 and self.rout.lists_until.shape[0]:
                self.rout.lists_until[src] = until

    def _table(self) -> dict[str, np.ndarray]:
        return {"row": np.asarray(self.r_row, np.int64), "day": np.asarray(self.r_day, np.int64),
                "kind": np.asarray(self.r_kind, np.int64),
                "flags": np.asarray(self.r_flags, np.int64),
                "void_a": np.asarray(self.r_void_a, bool),
                "void_t": np.asarray(self.r_void_t, bool)}

    def expiry(self, t: int) -> None:
        """Phase 4: records older than the window stop counting (`counting` below asks
        each record's age, so nothing is stored)."""
        self.tab = self._table()
        self.in_window = self.tab["day"] > t - self.a.score.window
        self.count = np.bincount(self.tab["row"][self.in_window], minlength=self.n)

    def counting(self, true_only: bool) -> np.ndarray:
        tab = self.tab
        if true_only:
            return self.in_window & ~tab["void_t"] & ((tab["flags"] & FALSE) == 0)
        return self.in_window & ~tab["void_a"]

    def scores(self, t: int, true_only: bool) -> np.ndarray:
        """Phase 5: base + points in the window (or the newest record's points; of one
        day's, the fewest, then the kind listed last), clamped."""
        sc, pts = self.a.score, self.a.kinds.points
        tab = self.tab
        on = self.counting(true_only)
        if sc.agg == 0:
            s = sc.base + np.bincount(tab["row"][on], weights=pts[tab["kind"][on]],
                                      minlength=self.n).astype(np.int64)
        else:
            s = np.full(self.n, sc.base, np.int64)
            idx = np.flatnonzero(on)
            order = np.lexsort((-tab["kind"][idx], pts[tab["kind"][idx]], -tab["day"][idx],
                                tab["row"][idx]))
            idx = idx[order]
            firsts = np.unique(tab["row"][idx], return_index=True)[1]
            s[tab["row"][idx[firsts]]] = pts[tab["kind"][idx[firsts]]]
        return np.clip(s, sc.clamp_lo, sc.clamp_hi)

    def list_rules(self, t: int, s: np.ndarray, trig: np.ndarray,
                   ban: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Lists in policy order: thresholds, triggered listings, bans, exclusions.
        Returns the masks and who began a points-clearing ban today."""
        lists = self.a.lists
        mask = np.zeros(self.n, np.int64)
        clear = np.zeros(self.n, bool)
        for li in range(lists.below.shape[0]):
            on = (trig[li] >= t) | (ban[li] >= t)
            free = (mask & lists.excl[li]) == 0
            enter = ~on & ((s < lists.below[li]) | (s >= lists.atleast[li])) & free
            on = on | enter
            if lists.dur[li] > 0:
                ban[li, enter] = t + lists.dur[li] - 1
                if lists.clear[li]:
                    clear |= enter
            mask |= (on & free).astype(np.int64) << li
        return mask, clear

    def wipe(self, t: int, rows: np.ndarray, true_only: bool) -> None:
        """A points-clearing ban began: the records counting now stop counting."""
        hit = self.counting(true_only) & np.isin(self.tab["row"], rows)
        for j in np.flatnonzero(hit):
            if true_only:
                self.r_void_t[j] = True
                continue
            self.r_void_a[j] = True
            if self.r_src[j] >= 0 and self.rout.wiped.shape[0]:
                self.rout.wiped[self.r_src[j]] = t
        self.tab = self._table()

    def lists(self, t: int, s: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Phase 6: lists, actual and without false records; a ban that clears the
        points changes the score at once."""
        mask, clear = self.list_rules(t, s, self.trig_a, self.ban_a)
        if clear.any():
            self.wipe(t, np.flatnonzero(clear), true_only=False)
            s = self.scores(t, true_only=False)
            mask, _ = self.list_rules(t, s, self.trig_a, self.ban_a)
        s_true = self.scores(t, true_only=True)
        tmask, tclear = self.list_rules(t, s_true, self.trig_t, self.ban_t)
        if tclear.any():
            self.wipe(t, np.flatnonzero(tclear), true_only=True)
            s_true = self.scores(t, true_only=True)
            tmask, _ = self.list_rules(t, s_true, self.trig_t, self.ban_t)
        return s, mask, tmask

    def grade(self, s: np.ndarray) -> np.ndarray:
        # the number of grade bounds above the score (bounds fall from the highest grade)
        return np.searchsorted(-self.a.score.grade_min, -s, side="left").astype(np.int64)

    def sanctions(self, g: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Phase 7: the one decision function, over all subjects at once."""
        return applying(self.cons, g, mask), disclosed(self.cons, self.seg, g, mask)

    def metrics(self, t: int, s: np.ndarray, g: np.ndarray, mask: np.ndarray,
                tmask: np.ndarray, bits: np.ndarray, pub: np.ndarray) -> None:
        """Phase 8: today's levels; the accumulators take their differences."""
        acc, cons, plan = self.acc, self.cons, self.plan
        ne, ng, nl = len(plan.segments), len(plan.grades), len(plan.lists)
        levels = {
            "hist": np.bincount(np.clip(s - plan.hist_lo, 0, plan.n_bins - 1),
                                minlength=plan.n_bins),
            "grade": np.bincount(self.seg * ng + g, minlength=ne * ng).reshape(ne, ng),
            "list": self._by_segment(mask, nl),
            "wrong": self._by_segment(mask & ~tmask, nl),
            "measure": np.array([(((bits >> m.index) & 1)
                                  * (self.kids if cons.m_weight_children[m.index] else 1)).sum()
                                 for m in plan.measures], np.int64).reshape(len(plan.measures)),
            "child_restricted": np.array(((bits & cons.child_sanctions) != 0) @ self.kids),
            "published": np.array((pub != 0).sum()),
            "denied": np.array([(~decide(cons, k, bits, bits * 0)[0]).sum()
                                for k in range(len(plan.services))], np.int64),
            "child_denied": np.array([(~decide(cons, k, bits * 0, bits)[0]) @ self.kids
                                      for k in range(len(plan.services))], np.int64),
        }
        for key, level in levels.items():
            level = level.astype(np.int64)
            target = getattr(acc, key)
            target[t] += level - self.prev_levels.get(key, 0)
            self.prev_levels[key] = level
        self.ever |= mask
        self.state = (s, g, mask, tmask)

    def _by_segment(self, mask: np.ndarray, nl: int) -> np.ndarray:
        """Subjects on each list (bits of `mask`), by segment: (segments, lists)."""
        ne = len(self.plan.segments)
        out = np.zeros((ne, nl), np.int64)
        for li in range(nl):
            out[:, li] = np.bincount(self.seg, weights=(mask >> li) & 1, minlength=ne)
        return out

    # ------------------------------------------------------------------ the end
    def finish(self) -> None:
        """Final states, end-of-run counts and the explanations' dates."""
        s, g, mask, tmask = self.state if self.n else (np.zeros(0, np.int64),) * 4
        fin, a = self.final, self.a
        rows = self.ids - self.start
        child = np.setdiff1d(np.arange(self.end - self.start), rows)
        fin.score[child], fin.grade[child], fin.mask[child], fin.tmask[child] = (
            a.score.base, -1, 0, 0)
        fin.score[rows], fin.grade[rows], fin.mask[rows], fin.tmask[rows] = s, g, mask, tmask
        nl = a.lists.below.shape[0]
        for li in range(nl):
            np.add.at(self.acc.ever[:, li], self.seg, (self.ever >> li) & 1)
            np.add.at(self.acc.reg_list[:, li], self.region, (mask >> li) & 1)
        tab = self._table() if self.r_row else None
        if fin.next_change.shape[0]:
            fin.next_change[child] = NEVER
            fin.trig_until[child], fin.ban_until[child] = -1, -1
            fin.trig_until[rows] = self.trig_a.T
            fin.ban_until[rows] = self.ban_a.T
            nxt = np.full(self.n, NEVER, np.int64)
            if tab is not None:
                ends = tab["day"] + a.score.window
                alive = ends > self.days - 1
                np.minimum.at(nxt, tab["row"][alive], ends[alive])
            for timers in (self.trig_a, self.ban_a, self.trig_t, self.ban_t):
                after = np.where(timers >= self.days - 1, timers + 1, NEVER)
                nxt = np.minimum(nxt, after.min(axis=0) if nl else nxt)
            fin.next_change[rows] = nxt
        if self.rout.counts_until.shape[0] and tab is not None:
            src = np.asarray(self.r_src, np.int64)
            got = src >= 0
            wiped = self.rout.wiped[src[got]]
            self.rout.counts_until[src[got]] = np.where(
                wiped >= 0, wiped - 1, tab["day"][got] + a.score.window - 1)

    def ledger_rows(self) -> dict[str, np.ndarray]:
        """Every record made, in subject order and, per subject, in the order made."""
        row = np.asarray(self.r_row, np.int64)
        order = np.lexsort((np.arange(row.shape[0]), row))
        return {"day": np.asarray(self.r_day, np.int32)[order],
                "subject": self.gids[row[order]].astype(np.int64),
                "kind": np.asarray(self.r_kind, np.int16)[order],
                "flags": np.asarray(self.r_flags, np.int8)[order],
                "doer": np.asarray(self.r_doer, np.int64)[order]}

    def sent_arrays(self) -> Sent:
        """The outbox in the kernel's order: by source, day, behaviour."""
        sent = sorted(self.sent)
        cols = [np.asarray([x[k] for x in sent], np.int64) for k in range(5)]
        return Sent(target=cols[3], day=cols[1], kind=cols[4], src=cols[0])

