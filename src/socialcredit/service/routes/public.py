"""What anybody may read: the public list (exactly what the policy's disclosure rules
publish, read from stored states a page at a time), the policy, and health."""

from __future__ import annotations

import threading
from datetime import date, timedelta
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import APIRouter, Query

from socialcredit.policy._explain import explain
from socialcredit.service._auth import CtxDep
from socialcredit.service._context import Ctx
from socialcredit.service._db import driver_date, driver_sql, records, subject_states, subjects
from socialcredit.service._rules import Evaluation
from socialcredit.service._schemas import PageNo, SearchText
from socialcredit.service._store import chunks, counting_rows

router = APIRouter(tags=["public"])
SYNC_REFRESH = 5000  # stale states refreshed within a request; more: in the background


def stale_states(ctx: Ctx, today: date) -> list[str]:
    """Scored subjects without a stored state that holds today under this policy."""
    with ctx.engine.connect() as conn:
        return list(conn.execute(
            sa.select(subjects.c.id)
            .select_from(subjects.outerjoin(subject_states,
                                            subject_states.c.subject_id == subjects.c.id))
            .where(subjects.c.guardian_id.is_(None),
                   subjects.c.type.in_(list(ctx.rules.plans)),
                   sa.or_(subject_states.c.subject_id.is_(None),
                          subject_states.c.valid_until < driver_date(conn, today),
                          subject_states.c.policy_version != ctx.version))).scalars())


def ensure_states(ctx: Ctx, today: date, wait: bool | None = None) -> None:
    """Every scored subject has a stored state that holds today: a few are computed
    now; many (after an ingest, or a new day) in a background thread, once per day
    and process, while the list serves the states that hold (it never shows a state
    that no longer holds). `wait`: compute all of them now."""
    from socialcredit.service._store import recompute

    state = ctx.extra.setdefault("public", {"day": None, "lock": threading.Lock()})
    if state["day"] == today and not wait:
        return
    with state["lock"]:
        if state["day"] == today and not wait:
            return
        stale = stale_states(ctx, today)
        if len(stale) <= SYNC_REFRESH or wait:
            for part in chunks(stale, 20_000):
                recompute(ctx, part)
            state["day"] = today
            return
        state["day"] = today

    def run() -> None:
        for part in chunks(stale, 20_000):
            recompute(ctx, part)

    threading.Thread(target=run, name="public-states", daemon=True).start()


def published_page(ctx: Ctx, today: date, q: str, start: int, size: int,
                   ) -> tuple[int, list[tuple]]:
    """The public list's entries [start, start + size), and their total: each subject's
    entry under the rules that publish its name (persons, then companies, by id), then
    its entry under the rules that do not (anonymous: no id, never found by `q`, sorted
    by what it shows). Read from the stored states' publication columns through their
    indexes: a page costs the same however many subjects there are."""
    ensure_states(ctx, today)
    rules = ctx.rules
    with ctx.engine.connect() as conn:
        pg = conn.dialect.name == "postgresql"
        c = ' COLLATE "C"' if pg else ""
        day = driver_date(conn, today)
        holds = " AND valid_until >= ? AND computed_for <= ? AND policy_version = ?"
        held = (day, day, ctx.version)
        search = (" AND strpos(subject_id, ?) > 0" if pg else " AND instr(subject_id, ?) > 0"
                  ) if q else ""
        named_where = "named > 0" + holds + search
        named_args = held + ((q,) if q else ())
        anon_where = "anonymous IS NOT NULL" + holds
        n_named = driver_sql(conn, "SELECT COUNT(*) FROM subject_states WHERE " + named_where,
                             named_args)[0][0]
        n_anon = 0 if q else driver_sql(
            conn, "SELECT COUNT(*) FROM subject_states WHERE " + anon_where, held)[0][0]
        page: list[tuple[str, bool]] = []
        if start < n_named:
            page += [(sid, True) for (sid,) in driver_sql(
                conn, f"SELECT subject_id FROM subject_states WHERE {named_where}"
                      f" ORDER BY named, subject_id{c} LIMIT ? OFFSET ?",
                named_args + (size, start))]
        if len(page) < size and not q:
            page += [(sid, False) for (sid,) in driver_sql(
                conn, f"SELECT subject_id FROM subject_states WHERE {anon_where}"
                      f" ORDER BY anonymous{c} LIMIT ? OFFSET ?",
                held + (size - len(page), max(0, start - n_named)))]
        rows = {}
        for part in chunks(sorted({sid for sid, _ in page}), 5000):
            rows.update((r[0], r) for r in driver_sql(
                conn, "SELECT s.id, s.type, s.kind, t.score, t.grade, t.lists FROM subjects s"
                      " JOIN subject_states t ON t.subject_id = s.id"
                      f" WHERE s.id IN ({','.join('?' * len(part))})", tuple(part)))
    memo: dict[tuple, list] = {}
    hits = []
    for sid, by_name in page:
        _, stype, kind, score, grade, lists = rows[sid]
        key = (stype, kind, grade, lists)
        matched = memo.get(key)
        if matched is None:
            matched = memo[key] = rules.disclosure(stype, rules.segment(stype, kind), grade,
                                                   lists)
        hits.append((sid, stype, kind, score, grade, lists,
                     [d for d in matched if ("name" in d.fields) == by_name]))
    return n_named + n_anon, hits


def public_entries(ctx: Ctx, hits: list[tuple], today: date) -> list[dict]:
    """The published fields of these entries (records are read only for the fields
    that need them: evidence, listing ends, record dates)."""
    rules = ctx.rules
    need = {"evidence", "listed_until", "record_date"}
    evs: dict[str, Evaluation] = {}
    evidence: dict[str, str | None] = {}
    with ctx.engine.connect() as conn:
        for stype in rules.plans:
            group = {h[0]: h for h in hits if h[1] == stype and any(
                need & set(d.fields) for d in h[6])}
            if not group:
                continue
            ids = list(group)
            recs = counting_rows(conn, ids, today - timedelta(days=rules.horizon(stype)))
            for part in chunks(recs.id, 5000):
                evidence.update(conn.execute(sa.select(records.c.id, records.c.evidence)
                                             .where(records.c.id.in_(part))).all())
            segments = [rules.segment(stype, group[i][2]) for i in ids]
            evs.update(zip(ids, rules.explain(stype, ids, recs, today, segments), strict=True))
    out = []
    for sid, stype, _, score, grade, lists, matched in hits:
        entry: dict[str, Any] = {"type": stype}
        ev = evs.get(sid)
        until = {x["name"]: x["until"] for x in ev.lists} if ev else {}
        on = [x for x in lists.split(",") if x]
        for d in matched:
            fields = set(d.fields)
            if "name" in fields:
                entry["subject"] = sid
            if "reason" in fields:
                entry.setdefault("why", []).append(d.rule)
            if "score" in fields:
                entry["score"] = score
            if "grade" in fields:
                entry["grade"] = grade
            mine = [x for x in d.lists if x in on]
            if "lists" in fields:
                entry.setdefault("lists", []).extend(mine)
            if "listed_until" in fields and ev is not None:
                entry.setdefault("listed_until", {}).update({x: until.get(x) for x in mine})
            if "evidence" in fields and ev is not None:
                entry.setdefault("evidence", []).extend(
                    evidence[rid] for rid, dates in ev.records.items()
                    if dates["list"] in mine and dates["lists_until"] is not None
                    and dates["lists_until"] >= today and evidence.get(rid))
            if "record_date" in fields and ev is not None:
                counting = [dates["occurred"] for dates in ev.records.values()
                            if dates["counts_until"] >= today and dates["wiped"] is None]
                entry["record_date"] = max(counting).isoformat() if counting else None
        out.append(entry)
    return out


@router.get("/v1/public/list")
def public_list(ctx: CtxDep, q: SearchText = "", page: PageNo = 1,
                per_page: Annotated[int, Query(ge=1, le=500)] = 50) -> dict:
    """What the policy discloses, and nothing else: the subjects its disclosure rules
    publish (e.g. persons on a list, companies of some kinds in some grades), each with
    the fields those rules name. Searchable by id where the id is published; paginated;
    read from stored states."""
    today = ctx.clock()
    total, hits = published_page(ctx, today, q, (page - 1) * per_page, per_page)
    return {"total": total, "page": page, "per_page": per_page,
            "items": public_entries(ctx, hits, today), "policy_version": ctx.version}


@router.get("/v1/public/policy")
def public_policy(ctx: CtxDep) -> dict:
    """The policy in force, as data and in plain words."""
    return {"policy_version": ctx.version, "explained": explain(ctx.policy),
            "policy": ctx.policy.model_dump(mode="json")}


@router.get("/v1/health")
def health(ctx: CtxDep) -> dict:
    with ctx.engine.connect() as conn:
        conn.execute(sa.text("SELECT 1"))
    return {"status": "ok", "policy_version": ctx.version, "database": ctx.engine.dialect.name}
