"""Concurrent writers and checks on one subject, from several service instances on one
database (as several worker processes would be): a subject's stored state always
equals the recomputation from its committed records, and checks agree with the
subject's own view of its state.

Each race starts its requests at one moment (a barrier) and is repeated over many
trials with new subjects; a trial fails if, once every request has returned, the
stored state in `subject_states` differs from the state computed afresh from the
committed records, or if a flight check from any instance contradicts the subject's
own state (denied iff its measures hold a flight sanction).

In the reference policy a person starts at 1000 and is blacklisted below 750 (or for a
year after a court default); the blacklist denies flights. So nine `late_debt_payment`
records (-30 each: 730) blacklist, and a state that misses any one of them (760 or
more) does not: a lost record shows in the check's answer.

Two races are made certain with delays (monkeypatched into `_store`) rather than left
to chance: a batch that resends existing records while another adds to the same
subject, and a check that computes a state while a write commits.

The instances share one test process, so their routers too (FastAPI builds a route's
models on its first request): each instance is warmed up before any race.
"""

from __future__ import annotations

import itertools
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import date, timedelta
from functools import partial

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from socialcredit.service import _store as store
from socialcredit.service import create_app, create_token, make_engine
from socialcredit.service._changes import log_changes
from socialcredit.service._db import appeals, dispose_engines, records, subject_states
from socialcredit.service._store import _compute, lock_subjects
from socialcredit.service.routes import checks as checks_route

from .conftest import TODAY, reference_policy

CHANNEL = {"late_debt_payment": "financial", "volunteering": "registry",
           "spreading_rumors": "online", "court_judgment_default": "court",
           "running_red_light": "camera"}


def _instance_url(url: str, i: int) -> str:
    """The database URL as instance `i` uses it: a distinct string, so that each
    instance gets its own engine and connection pool (make_engine keeps one per URL),
    as a separate process would."""
    if url.startswith("postgresql"):
        return f"{url}?application_name=sc_instance_{i}"
    return f"{url}?timeout={30 + i}"  # pysqlite's own option; the busy_timeout pragma rules


def _warm_up(client: TestClient) -> None:
    """One request (refused) to each route the tests use, one instance after another:
    FastAPI builds a route's models on its first request, and the instances of one
    test process share the routers (separate processes do not), so their first
    requests must not race."""
    for path in ("/v1/records", "/v1/records/batch", "/v1/appeals",
                 "/v1/appeals/1/decision", "/v1/checks"):
        assert client.post(path, json={}).status_code == 401
    assert client.get("/v1/subjects/x").status_code == 401


class Cluster:
    """Several service instances over one database, each with its own engine, state
    cache and audit writer, and a TestClient running one event loop (as a process)."""

    def __init__(self, url: str, instances: int = 2) -> None:
        self.url = url
        self.policy = reference_policy()
        self.urls = [_instance_url(url, i) for i in range(instances)]
        self.apps = [create_app(self.policy, u, today=lambda: TODAY) for u in self.urls]
        self._stack = ExitStack()
        self.clients = [self._stack.enter_context(TestClient(app)) for app in self.apps]
        for client in self.clients:  # see `_warm_up`
            _warm_up(client)
        self.engine = make_engine(url)
        self.tokens = {
            "recorder": create_token(self.engine, "recorder"),
            "reviewer": create_token(self.engine, "reviewer"),
            "reviewer2": create_token(self.engine, "reviewer"),
            "flight": create_token(self.engine, "gatekeeper", service="flight"),
        }

    def close(self) -> None:
        self._stack.close()
        for u in self.urls:
            dispose_engines(u)

    def h(self, who: str) -> dict[str, str]:
        """A role's token, or (any other name) that subject's own token."""
        if who not in self.tokens:
            self.tokens[who] = create_token(self.engine, "subject", subject=who)
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def record(self, i: int, rid: str, subject: str, kind: str, on: str = "2026-06-01"):
        body = {"id": rid, "subject": subject, "kind": kind, "occurred_at": on,
                "channel": CHANNEL[kind]}
        return self.clients[i % len(self.clients)].post("/v1/records", json=body,
                                                        headers=self.h("recorder"))

    def batch(self, i: int, items: list[tuple[str, str, str, str]]):
        body = {"records": [{"id": rid, "subject": s, "kind": k, "occurred_at": on,
                             "channel": CHANNEL[k]} for rid, s, k, on in items]}
        return self.clients[i % len(self.clients)].post("/v1/records/batch", json=body,
                                                        headers=self.h("recorder"))

    def appeal(self, subject: str, record: str) -> int:
        r = self.clients[0].post("/v1/appeals", headers=self.h(subject),
                                 json={"record": record, "statement": "paid"})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    def decide(self, i: int, appeal_id: int, upheld: bool, reviewer: str = "reviewer"):
        return self.clients[i % len(self.clients)].post(
            f"/v1/appeals/{appeal_id}/decision", headers=self.h(reviewer),
            json={"upheld": upheld, "note": "x"})

    def flight(self, i: int, subject: str) -> dict:
        r = self.clients[i % len(self.clients)].post(
            "/v1/checks", headers=self.h("flight"),
            json={"subject": subject, "service": "flight"})
        assert r.status_code == 200, r.text
        return r.json()

    # ------------------------------------------------------------------ the oracle
    def stored(self, sid: str) -> tuple | None:
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(
                subject_states.c.score, subject_states.c.grade, subject_states.c.lists,
                subject_states.c.valid_until, subject_states.c.policy_version).where(
                subject_states.c.subject_id == sid)).first()
        return None if row is None else tuple(row)

    def recomputed(self, sid: str) -> tuple:
        """The state today from the committed records, computed afresh."""
        ctx = self.apps[0].state.ctx
        with self.engine.connect() as conn:
            _, _, score, grade, lists, until = _compute(ctx, conn, [sid])[sid]
        return (score, grade, lists, until, ctx.version)

    def problems(self, sid: str, expired_ok: bool = False) -> list[str]:
        """What is wrong with the subject's stored state and the checks' answers, once
        every write has returned (empty: nothing). `expired_ok`: a stored state that
        no longer holds today is not compared (no check answers from it: it is
        computed again; a check may leave it so when it cannot store at once)."""
        out = []
        stored, fresh = self.stored(sid), self.recomputed(sid)
        expired = expired_ok and stored is not None and stored[3] < TODAY
        if stored != fresh and not expired:
            out.append(f"{sid}: stored state {stored} != recomputation {fresh}")
        view = self.clients[-1].get(f"/v1/subjects/{sid}", headers=self.h(sid))
        assert view.status_code == 200, view.text
        own = view.json()
        lists = ",".join(sorted(x["name"] for x in own["lists"]))
        if (own["score"], own["grade"], lists) != fresh[:3]:
            out.append(f"{sid}: own view {own['score'], own['grade'], own['lists']}"
                       f" != recomputation {fresh[:3]}")
        banned = [m["name"] for m in own["measures"]
                  if m["service"] == "flight" and m["type"] == "sanction"]
        for i in range(len(self.clients)):
            answer = self.flight(i, sid)
            if answer["allowed"] != (not banned) or (banned and answer["measure"] != banned[0]):
                out.append(f"{sid}: instance {i} answers {answer['allowed']}"
                           f" ({answer['measure']}) but the subject's measures are {banned}")
        return out


@pytest.fixture
def cluster(db_url) -> Iterator[Cluster]:
    c = Cluster(db_url)
    yield c
    c.close()


def race(calls: list[Callable[[], object]]) -> list:
    """Run the calls in threads released at one moment; their results in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], object]) -> object:
        barrier.wait()
        return call()

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(run, calls))


def day(i: int) -> str:
    return (date(2026, 6, 1) + timedelta(days=i % 28)).isoformat()


def new_subject(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def report(failures: list[list[str]], trials: int) -> str:
    bad = [f for f in failures if f]
    return (f"{len(bad)}/{trials} trials failed; first: "
            + "; ".join(bad[0] if bad else []))


# ---------------------------------------------------------------------------- tests
@pytest.mark.parametrize("trials", [10])
def test_racing_writers_on_a_new_subject(db_url, trials):
    """Nine writers, spread over three instances, each add a -30 record for one new
    subject at the same moment: the stored state holds all nine (730, blacklisted),
    and every instance denies the flight, as the subject's own state says."""
    c = Cluster(db_url, instances=3)
    try:
        failures = []
        for t in range(trials):
            sid = new_subject(f"w{t}")
            answers = race([partial(c.record, i, f"{sid}-r{i}", sid, "late_debt_payment",
                                    day(i)) for i in range(9)])
            assert [a.status_code for a in answers] == [201] * 9, [a.text for a in answers]
            problems = c.problems(sid)
            if c.recomputed(sid)[:3] != (730, "C", "blacklist"):
                problems.append(f"{sid}: recomputation {c.recomputed(sid)}")
            failures.append(problems)
        assert not any(failures), report(failures, trials)
    finally:
        c.close()


@pytest.mark.parametrize("trials", [30])
def test_two_simultaneous_records(cluster, trials):
    """Two writers on two instances, one record each for one subject (new or not):
    the stored state equals the recomputation every time."""
    failures = []
    kinds = itertools.cycle([("late_debt_payment", "volunteering"),
                             ("spreading_rumors", "late_debt_payment"),
                             ("volunteering", "volunteering")])
    for t in range(trials):
        sid = new_subject(f"p{t}")
        if t % 2:  # an existing subject half the time
            assert cluster.record(0, f"{sid}-seed", sid, "spreading_rumors").status_code == 201
        a, b = next(kinds)
        answers = race([partial(cluster.record, 0, f"{sid}-a", sid, a, day(t)),
                        partial(cluster.record, 1, f"{sid}-b", sid, b, day(t + 1))])
        assert [x.status_code for x in answers] == [201, 201], [x.text for x in answers]
        failures.append(cluster.problems(sid))
    assert not any(failures), report(failures, trials)


@pytest.mark.parametrize("trials", [10])
def test_upheld_appeal_racing_a_record(cluster, trials):
    """A reviewer upholds the appeal of a court default (which blacklists) while a
    recorder adds a +5 record on another instance: afterwards the default no longer
    counts in the stored state (1005, no list) and the flight is allowed everywhere."""
    failures = []
    for t in range(trials):
        sid = new_subject(f"a{t}")
        assert cluster.record(0, f"{sid}-court", sid, "court_judgment_default",
                              "2026-03-01").status_code == 201
        appeal_id = cluster.appeal(sid, f"{sid}-court")
        calls = [partial(cluster.decide, 0, appeal_id, True),
                 partial(cluster.record, 1, f"{sid}-v", sid, "volunteering", day(t))]
        if t % 2:
            calls.reverse()
        answers = race(calls)
        assert sorted(x.status_code for x in answers) == [200, 201], [x.text for x in answers]
        problems = cluster.problems(sid)
        if cluster.recomputed(sid)[:3] != (1005, "A", ""):
            problems.append(f"{sid}: recomputation {cluster.recomputed(sid)}")
        failures.append(problems)
    assert not any(failures), report(failures, trials)


@pytest.mark.parametrize("trials", [8])
def test_racing_appeal_decisions(cluster, trials):
    """Two reviewers on two instances decide one appeal at once, one upholding and one
    rejecting: one is answered 200, the other 409; the stored appeal and record say
    what the 200 said, the state follows it, and a later decision is refused."""
    for t in range(trials):
        sid = new_subject(f"d{t}")
        rid = f"{sid}-court"
        assert cluster.record(0, rid, sid, "court_judgment_default",
                              "2026-03-01").status_code == 201
        appeal_id = cluster.appeal(sid, rid)
        up, down = race([partial(cluster.decide, 0, appeal_id, True, "reviewer"),
                         partial(cluster.decide, 1, appeal_id, False, "reviewer2")])
        assert sorted([up.status_code, down.status_code]) == [200, 409], (up.text, down.text)
        won = (up if up.status_code == 200 else down).json()
        assert won["status"] == ("upheld" if up.status_code == 200 else "rejected")
        with cluster.engine.connect() as conn:
            status = conn.execute(sa.select(appeals.c.status)
                                  .where(appeals.c.id == appeal_id)).scalar_one()
            record_status = conn.execute(sa.select(records.c.status)
                                         .where(records.c.id == rid)).scalar_one()
        assert status == won["status"]
        assert record_status == ("voided" if status == "upheld" else "active")
        again = cluster.decide(t, appeal_id, status != "upheld")
        assert again.status_code == 409, again.text
        assert cluster.problems(sid) == []
        assert (cluster.stored(sid)[2] == "blacklist") == (status == "rejected")


def _expire(cluster: Cluster, ids: list[str]) -> None:
    """Make the subjects' stored states end yesterday (as after a day passes), so that
    the next check computes them afresh: as a writer does, under their locks, noted in
    the change log."""
    yesterday = TODAY - timedelta(days=1)
    with cluster.engine.begin() as conn:
        lock_subjects(conn, ids)
        log_changes(conn, ids)
        conn.execute(subject_states.update().where(subject_states.c.subject_id.in_(ids))
                     .values(computed_for=yesterday, valid_until=yesterday))


class _Countdown(threading.Event):
    """Set once `n` writers have finished."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.left, self.lock = n, threading.Lock()

    def one_done(self) -> None:
        with self.lock:
            self.left -= 1
            if not self.left:
                self.set()


def _checks(cluster: Cluster, i: int, ids: list[str], done: threading.Event) -> int:
    """Expire the subjects' states and check them all from instance `i`, again and
    again until the writers are done; how many checks."""
    n = 0
    while not done.is_set() or n == 0:
        _expire(cluster, ids)
        answer = cluster.clients[i].post("/v1/checks", headers=cluster.h("flight"),
                                         json=[{"subject": s, "service": "flight"}
                                               for s in ids])
        assert answer.status_code == 200, answer.text
        n += 1
    return n


def _writes(cluster: Cluster, i: int, ids: list[str], kinds: list[str],
            done: _Countdown) -> int:
    """Writer `i`'s records, one after another, from instance `i` (mod their number)."""
    try:
        for j, kind in enumerate(kinds):
            sid = ids[(i + j) % len(ids)]
            w = cluster.record(i, f"{sid}-w{i}-{j}", sid, kind, day(i + j))
            assert w.status_code == 201, w.text
    finally:
        done.one_done()
    return len(kinds)


@pytest.mark.parametrize("rounds", [8])
def test_checks_racing_writes_store_no_stale_state(cluster, rounds):
    """Checks on both instances, which compute and store the states they find expired
    (each check here first expires them), run while writers on both instances add
    records to the same subjects: once the writes end, every stored state equals the
    recomputation and every answer the subject's own state."""
    failures = []
    kinds = ["late_debt_payment", "volunteering", "spreading_rumors", "late_debt_payment",
             "running_red_light"]
    writers, per_writer = 4, 3
    for r in range(rounds):
        ids = [new_subject(f"c{r}-{k}") for k in range(3)]
        for k, sid in enumerate(ids):
            for j in range(7 + k):  # near the blacklist's threshold (790, 760, 730)
                assert cluster.record(0, f"{sid}-s{j}", sid, "late_debt_payment",
                                      day(j)).status_code == 201
        done = _Countdown(writers)
        kinds_of = [[kinds[(r + i + j) % len(kinds)] for j in range(per_writer)]
                    for i in range(writers)]
        calls: list[Callable[[], object]] = [
            partial(_writes, cluster, i, ids, kinds_of[i], done) for i in range(writers)]
        calls += [partial(_checks, cluster, i, ids, done) for i in (0, 1)]
        assert all(race(calls))
        for client in cluster.clients:  # states the last expiry left expired: computed
            assert client.post("/v1/checks", headers=cluster.h("flight"), json=[
                {"subject": s, "service": "flight"} for s in ids]).status_code == 200
        failures.append([p for sid in ids for p in cluster.problems(sid, expired_ok=True)])
    assert not any(failures), report(failures, rounds)


def test_a_check_computing_while_a_write_commits_stores_no_stale_state(cluster,
                                                                       monkeypatch):
    """A check finds a subject's state expired and computes it; a record for the
    subject is written before the check stores what it computed. The check must not
    store its older state over the writer's (PostgreSQL: the check holds the subject's
    lock, so the writer waits; SQLite: the state's basis is older than the writer's).
    The race is made certain by a delay between the check's computing and storing."""
    sid = new_subject("k")
    for j in range(8):  # 760: not listed; a ninth record blacklists
        assert cluster.record(0, f"{sid}-s{j}", sid, "late_debt_payment",
                              day(j)).status_code == 201
    _expire(cluster, [sid])
    local = threading.local()
    real_recompute, real_compute = checks_route.recompute, store._compute

    def marked_recompute(ctx, ids):
        local.check = True
        try:
            return real_recompute(ctx, ids)
        finally:
            local.check = False

    def slow_compute(ctx, conn, ids, *rest):
        out = real_compute(ctx, conn, ids, *rest)
        if getattr(local, "check", False):
            time.sleep(0.5)
        return out

    monkeypatch.setattr(checks_route, "recompute", marked_recompute)
    monkeypatch.setattr(store, "_compute", slow_compute)

    def write():
        time.sleep(0.15)  # while the check sleeps between computing and storing
        return cluster.record(0, f"{sid}-late", sid, "late_debt_payment", day(9))

    _, written = race([lambda: cluster.flight(1, sid), write])
    assert written.status_code == 201, written.text
    monkeypatch.undo()
    assert cluster.recomputed(sid)[:3] == (730, "C", "blacklist")
    assert cluster.problems(sid) == []


@pytest.mark.parametrize("trials", [6])
def test_concurrent_batches_of_overlapping_subjects(db_url, trials):
    """Three instances ingest batches over the same subjects at once: two add records
    to the same subjects in opposite orders, with some records both send (the same
    ids and content); the third resends records that exist already (of half of those
    subjects) with new records of other subjects. No deadlock or error, every record is
    stored once, and every state equals the recomputation."""
    c = Cluster(db_url, instances=3)
    try:
        failures = []
        for t in range(trials):
            ids = [new_subject(f"b{t}-{k:02d}") for k in range(12)]
            others = [new_subject(f"o{t}-{k}") for k in range(3)]
            seed = [(f"{s}-seed", s, "spreading_rumors", "2026-05-01") for s in ids[::2]]
            assert c.batch(0, seed).status_code == 200
            shared = [(f"{s}-shared", s, "volunteering", day(t)) for s in ids[::3]]
            one = [(f"{s}-x{j}", s, "late_debt_payment", day(j))
                   for s in ids for j in range(3)]
            two = [(f"{s}-y{j}", s, "late_debt_payment", day(j + 3))
                   for s in reversed(ids) for j in range(3)]
            three = [(f"{s}-z", s, "volunteering", day(t)) for s in others]
            answers = race([partial(c.batch, 0, one + shared),
                            partial(c.batch, 1, shared[::-1] + two),
                            partial(c.batch, 2, seed + three)])
            assert [a.status_code for a in answers] == [200] * 3, [a.text for a in answers]
            created = sum(a.json()["created"] for a in answers)
            assert created == len(one) + len(two) + len(shared) + len(three)
            failures.append([p for sid in ids + others for p in c.problems(sid)])
        assert not any(failures), report(failures, trials)
    finally:
        c.close()


def test_a_resent_batch_does_not_store_a_stale_state(db_url, monkeypatch):
    """A batch that resends existing records of subject Z (and adds records for others)
    while another batch adds records to Z: the resending batch holds no lock on Z, so it
    must not store a state of Z computed before the other's records were committed.
    The race is made certain by delays: the adding batch waits (holding Z's lock, its
    records written) before computing, the resending one between computing and storing."""
    c = Cluster(db_url, instances=2)
    real_compute, real_log = store._compute, store.log_changes
    zs = [new_subject(f"z{k}") for k in range(3)]
    ws = [new_subject(f"wx{k}") for k in range(3)]

    def slow_compute(ctx, conn, ids, *rest):
        if set(ids) == set(zs):  # the adding batch, computing its states
            time.sleep(0.4)
        return real_compute(ctx, conn, ids, *rest)

    def slow_log(conn, ids):
        if ids is not None and set(ws) <= set(ids):  # the resending batch, computed
            time.sleep(0.6)
        return real_log(conn, ids)

    try:
        seed = [(f"{z}-seed", z, "late_debt_payment", day(k)) for k, z in enumerate(zs)]
        assert c.batch(0, seed).status_code == 200
        monkeypatch.setattr(store, "_compute", slow_compute)
        monkeypatch.setattr(store, "log_changes", slow_log)
        adding = [(f"{z}-n{j}", z, "late_debt_payment", day(j)) for z in zs for j in range(9)]
        other = [(f"{w}-n", w, "volunteering", day(1)) for w in ws]

        def resend():
            time.sleep(0.15)  # once the adding batch has written its records
            return c.batch(1, seed + other)

        answers = race([lambda: c.batch(0, adding), resend])
        assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
        monkeypatch.undo()
        problems = [p for z in zs for p in c.problems(z)]
        assert not problems, problems
    finally:
        c.close()
