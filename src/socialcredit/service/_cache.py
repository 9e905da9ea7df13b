"""The check path's memory: each service process keeps the subject states it has read
(score, grade, lists, and the dates they hold for) and drops those that the change log
(`_changes`) names. So a check never answers from a state older than the last committed
write it could see, even with several processes (workers, `ingest`) on one database.

A subject the service has never heard of is answered as a subject with no records: the
base state of the service's subject type (nothing tells a gatekeeper whether a subject
exists).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import sqlalchemy as sa

from socialcredit.service._changes import ALL, NEWEST_SEEN, TOKENS
from socialcredit.service._db import placeholders
from socialcredit.service._decisions import Decision, make_decision
from socialcredit.service._rules import Rules


class State(NamedTuple):
    """A scored subject's stored state and the dates it holds for (ISO text)."""

    type: str
    score: int | None
    grade: str | None
    lists: str  # list names, sorted, comma-separated
    since: str  # computed for this date
    until: str  # holds through this date

    @property
    def decides(self) -> tuple:
        """What a decision depends on (not the dates)."""
        return (self.type, self.grade, self.lists)


class ChildKey(NamedTuple):
    """A child's decision key: its guardian's state."""

    guardian: State


UNKNOWN = ("unknown",)  # the key of a subject the service has no row for


class _Raw:
    """One DBAPI connection in autocommit mode, for the short reads of the check path
    (SQLAlchemy's statement building costs more than these reads)."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self.pg = engine.dialect.name == "postgresql"
        self._conn: Any = None

    def rows(self, text: str, params: tuple | list = ()) -> list[tuple]:
        if self._conn is None:
            self._conn = self.engine.raw_connection()
            if self.pg:
                self._conn.driver_connection.autocommit = True
        try:
            cur = self._conn.cursor()
            cur.execute(placeholders(text, self.engine.dialect.name), params)
            out = cur.fetchall()
            cur.close()
            return out
        except Exception:
            conn, self._conn = self._conn, None  # reconnect on the next call
            conn.invalidate()
            raise



class StateCache:
    """Subject states as of the last change this process has seen (see module doc)."""

    MAX_ENTRIES = 4_000_000

    def __init__(self, engine: sa.Engine, rules: Rules,
                 on_tokens: Callable[[], None] | None = None) -> None:
        self.rules = rules
        self.raw = _Raw(engine)
        self.on_tokens = on_tokens  # called when the log says a token changed
        self.last_seq: int | None = None
        self.kinds: dict[str, tuple[str, str | None]] = {}  # id -> (type, guardian)
        self.states: dict[str, State] = {}  # scored id -> its state, interned
        self._interned: dict[tuple, tuple] = {}
        self._decisions: dict[tuple, Decision] = {}  # (state, service) -> decision
        self._by_state: dict[tuple, Decision] = {}  # the same, without the dates
        # what `_lookup` found, kept for one day: id -> decision key of a state that
        # holds that day. A change drops the subject's entry; a change to a guardian
        # drops them all (its children's entries are its state).
        self._ready: dict[str, tuple] = {}
        self._ready_day = ""
        self._guardians: set[str] = set()

    def clear(self) -> None:
        self.kinds.clear()
        self.states.clear()
        self._interned.clear()
        self._ready.clear()
        self._guardians.clear()

    def sync(self) -> None:
        """Drop the states that writes committed since the last look have changed."""
        if self.last_seq is None:
            self.last_seq = self.raw.rows(NEWEST_SEEN)[0][0]
            return
        # a floor past the last entry seen reads as a '*' there: entries were pruned
        for seq, sid in self.raw.rows(
                "SELECT seq, subject_id FROM state_changes WHERE seq > ? UNION ALL"
                " SELECT seq, '*' FROM state_changes_floor WHERE seq > ? ORDER BY 1",
                (self.last_seq, self.last_seq)):
            self.last_seq = seq
            if sid == ALL:
                self.clear()
                if self.on_tokens is not None:
                    self.on_tokens()
            elif sid == TOKENS:
                if self.on_tokens is not None:
                    self.on_tokens()
            else:
                self.kinds.pop(sid, None)
                self.states.pop(sid, None)
                self._ready.pop(sid, None)
                if sid in self._guardians:
                    self._ready.clear()

    def resolve(self, ids: list[str], today: str, synced: bool = False,
                ) -> tuple[list[tuple | None], list[str]]:
        """For each subject, the decision key of its stored state if that holds today
        (UNKNOWN for a subject without a row, None if its state must be computed first:
        those are listed second, and `adopt` fills their keys in). `synced`: the
        request has read the change log already (its token check does)."""
        if not synced:
            self.sync()
        if today != self._ready_day:
            self._ready.clear()
            self._ready_day = today
        keys = list(map(self._ready.get, ids))
        if None not in keys:
            return keys, []
        rest = [sid for sid, k in zip(ids, keys, strict=True) if k is None]
        found, unknown, stale = self._lookup(rest, today)
        if unknown or stale:
            again = sorted(set(unknown) | set(stale))
            self._load(again)
            found2, unknown, stale = self._lookup(again, today)
            self._fill(found, rest, dict(zip(again, found2, strict=True)))
        more = {sid: k for sid, k in zip(rest, found, strict=True) if k is not None}
        self._ready.update(more)
        more.update(dict.fromkeys(unknown, UNKNOWN))
        self._fill(keys, ids, more)
        return keys, stale

    def _lookup(self, ids: list[str], today: str) -> tuple[list, list, list]:
        keys: list[tuple | None] = []
        unknown, stale = [], []
        kind_of, state_of = self.kinds.get, self.states.get
        for sid in ids:
            kind = kind_of(sid)
            if kind is None:
                unknown.append(sid)
                keys.append(None)
                continue
            guardian = kind[1]
            st = state_of(guardian or sid)
            if st is None or not st.since <= today <= st.until:
                stale.append(sid)
                keys.append(None)
            elif guardian:
                keys.append(self._child_key(st))
            else:
                keys.append(st)
        return keys, unknown, stale

    def _child_key(self, st: State) -> ChildKey:
        key = ChildKey(st)
        return self._interned.setdefault(key, key)

    @staticmethod
    def _fill(keys: list, ids: list[str], more: dict[str, tuple | None]) -> None:
        for i, k in enumerate(keys):
            if k is None:
                keys[i] = more.get(ids[i])

    def owners(self, ids: list[str]) -> dict[str, str]:
        """For each of `ids`, the subject whose state decides for it (a child's is its
        guardian's), as this process knows it now. Taken before the states are
        computed: meanwhile, another check's `sync` may drop what `kinds` holds."""
        return {sid: self.kinds[sid][1] or sid for sid in ids}

    def adopt(self, keys: list, ids: list[str], owners: dict[str, str],
              fresh: dict[str, State], seen: int | None) -> None:
        """Fill in the keys of the stale subjects (those of `owners`, as `owners()` gave
        them before the states were computed) from states just computed (`fresh`, by
        scored subject). They are kept for later checks only if no change was seen since
        `seen`, the log position before they were read: a change in between might not
        be in them."""
        keep = self.last_seq == seen
        more = {}
        for sid, owner in owners.items():
            guardian = owner if owner != sid else None
            st = fresh[owner]
            st = self._interned.setdefault(st, st)
            if keep:
                self.states[guardian or sid] = st
            more[sid] = self._child_key(st) if guardian else st
            if keep and st.since <= self._ready_day <= st.until:
                self._ready[sid] = more[sid]
        self._fill(keys, ids, more)

    def decide_all(self, keys: list[tuple], services: list[str]) -> list[Decision]:
        """The decisions for many keys; with one service (the usual batch), one lookup
        per distinct state."""
        if len(set(services)) > 1:
            return [self.decide(k, s) for k, s in zip(keys, services, strict=True)]
        service = services[0] if services else ""
        ids = list(map(id, keys))  # keys are interned and alive here: ids are unique
        chosen = {i: self.decide(k, service) for i, k in dict(zip(ids, keys, strict=True)).items()}
        return list(map(chosen.__getitem__, ids))

    def _load(self, ids: list[str]) -> None:
        if len(self.kinds) + len(ids) > self.MAX_ENTRIES:
            self.clear()
        version = self.rules.version
        for k in range(0, len(ids), 5000):
            part = ids[k:k + 5000]
            for sid, stype, guardian, ssid, score, grade, lists, since, until, pv in \
                    self.raw.rows(
                        "SELECT s.id, s.type, s.guardian_id, t.subject_id, t.score, t.grade,"
                        " t.lists, t.computed_for, t.valid_until, t.policy_version"
                        " FROM subjects s LEFT JOIN subject_states t"
                        " ON t.subject_id = COALESCE(s.guardian_id, s.id)"
                        f" WHERE s.id IN ({','.join('?' * len(part))})", part):
                kind = (stype, guardian)
                self.kinds[sid] = self._interned.setdefault(kind, kind)
                if guardian:
                    self._guardians.add(guardian)
                if ssid is not None and pv == version:
                    gtype = "person" if guardian else stype
                    key = State(gtype, score, grade, lists, str(since), str(until))
                    self.states[ssid] = self._interned.setdefault(key, key)

    def decide(self, key: tuple, service: str) -> Decision:
        """The decision for a stored state (or a child's guardian's, or a subject without
        a row): it depends only on the state, so it is computed once."""
        hit = self._decisions.get((key, service))
        if hit is None:
            if len(self._decisions) > 200_000:
                self._decisions.clear()
            # the dates a state holds for do not change the decision
            if key is UNKNOWN:
                dkey: tuple = UNKNOWN
            elif isinstance(key, ChildKey):
                dkey = ("child", *key.guardian.decides)
            else:
                dkey = key.decides
            hit = self._by_state.get((dkey, service))
            if hit is None:
                rules = self.rules
                if dkey is UNKNOWN:
                    answer = rules.unknown_decision(service)
                elif dkey[0] == "child":
                    answer = rules.decision(*dkey[1:], service, child=True)
                else:
                    answer = rules.decision(*dkey, service)
                hit = make_decision(service, answer, rules.version)
                self._by_state[(dkey, service)] = hit
            self._decisions[(key, service)] = hit
        return hit
