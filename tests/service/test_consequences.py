"""What a state brings, in the service: decisions that depend on the record and nothing
else (credit repair), a public list that shows exactly what the policy discloses, and
the dates of a file taken from the rules (bans that wipe points, repair, expiry)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from socialcredit.engine._identity import record_identity, repair_seed, repaired
from socialcredit.policy import parse_policy
from socialcredit.scenarios import load_scenario, scenario_path
from socialcredit.service import create_app, create_token, make_engine

D0 = date(2026, 3, 1)


class Clock:
    def __init__(self, today: date) -> None:
        self.today = today

    def __call__(self) -> date:
        return self.today


class Client:
    def __init__(self, url: str, policy, today: date) -> None:
        self.clock = Clock(today)
        self.http = TestClient(create_app(policy, url, today=self.clock))
        engine = make_engine(url)
        self.tok = {role: create_token(engine, role) for role in ("recorder", "reviewer")}
        self.services = {}
        self.engine = engine

    def h(self, role: str) -> dict:
        return {"Authorization": f"Bearer {self.tok[role]}"}

    def as_subject(self, sid: str) -> dict:
        """The subject's own token: the one role that reads any subject's file."""
        key = f"subject:{sid}"
        if key not in self.tok:
            self.tok[key] = create_token(self.engine, "subject", subject=sid)
        return {"Authorization": f"Bearer {self.tok[key]}"}

    def gate(self, service: str) -> dict:
        if service not in self.services:
            self.services[service] = create_token(self.engine, "gatekeeper", service=service)
        return {"Authorization": f"Bearer {self.services[service]}"}

    def record(self, rid: str, subject: str, kind: str, channel: str, on: date, **extra):
        r = self.http.post("/v1/records", headers=self.h("recorder"), json={
            "id": rid, "subject": subject, "kind": kind, "channel": channel,
            "occurred_at": on.isoformat(), **extra})
        return r

    def checks(self, service: str, subjects: list[str]) -> dict[str, bool]:
        r = self.http.post("/v1/checks", headers=self.gate(service),
                           json=[{"subject": s, "service": service} for s in subjects])
        assert r.status_code == 200, r.text
        return {x["subject"]: x["allowed"] for x in r.json()["results"]}


def _subjects_by_repair(policy, n: int) -> tuple[list[str], list[str]]:
    """Subject ids whose court record ("court-<id>") is repaired, and ids whose is not,
    under the policy's seed (found by drawing, as the service will)."""
    key = repair_seed(policy.run.seed)
    yes, no = [], []
    for k in range(500):
        sid = f"debtor{k}"
        (yes if repaired(key, record_identity(sid, f"court-{sid}"), 0.25) else no).append(sid)
    assert len(yes) >= n
    assert len(no) >= n
    return yes[:n], no[:n]


def test_credit_repair_depends_on_the_record_not_on_how_it_is_asked(db_url):
    """seed: a court record lists for 730 days, or 60 if the debtor is repaired. The
    decision for a subject is the same alone or at any position of any batch, on every
    day, and changes only on the date its own state names."""
    policy = load_scenario("seed")
    fixed, kept = _subjects_by_repair(policy, 6)
    c = Client(db_url, policy, D0)
    for sid in fixed + kept:
        assert c.record(f"court-{sid}", sid, "court_judgment_default", "court", D0,
                        evidence=f"case {sid}").status_code == 201
    everyone = fixed + kept
    # each state names the end of its listing: 60 days for the repaired, else 730
    named = {s: date.fromisoformat(c.http.get(f"/v1/subjects/{s}", headers=c.as_subject(s))
                                   .json()["lists"][0]["until"]) for s in everyone}
    assert named == {s: D0 + timedelta(days=59 if s in fixed else 729) for s in everyone}
    for offset in [*range(14), 58, 59, 60, 61, 363, 364, 365, 728, 729, 730]:
        c.clock.today = D0 + timedelta(days=offset)
        want = {s: c.clock.today > named[s] for s in everyone}
        assert c.checks("flight", everyone) == want, offset
        assert c.checks("flight", everyone[::-1]) == want, offset
        assert c.checks("flight", everyone[3:] + everyone[:3]) == want, offset
        for s in (fixed[0], kept[0]):
            one = c.http.post("/v1/checks", headers=c.gate("flight"),
                              json={"subject": s, "service": "flight"}).json()
            assert one["allowed"] is want[s], (offset, s)
    # the state names the date of its next change, and the listing explains itself
    c.clock.today = D0 + timedelta(days=10)
    me = c.http.get(f"/v1/subjects/{fixed[0]}", headers=c.as_subject(fixed[0])).json()
    assert me["lists"][0]["until"] == (D0 + timedelta(days=59)).isoformat()
    assert "after credit repair" in me["lists"][0]["rule"]
    assert me["holds_until"] == (D0 + timedelta(days=59)).isoformat()
    other = c.http.get(f"/v1/subjects/{kept[0]}", headers=c.as_subject(kept[0])).json()
    assert other["lists"][0]["until"] == (D0 + timedelta(days=729)).isoformat()
    assert "credit repair" not in other["lists"][0]["rule"]
    # the record leaves the score window first: the state changes then (score 900 -> 1000)
    assert other["holds_until"] == (D0 + timedelta(days=364)).isoformat()


DISCLOSING = scenario_path("reference").read_text(encoding="utf-8").replace(
    '''[[disclosure]]
subject = "person"
list = "blacklist"

[[disclosure]]
subject = "company"
grades = ["D"]
''', '''[[lists]]
name = "watchlist"
type = "black"
score_below = 990

[[disclosure]]
subject = "person"
list = "blacklist"
fields = ["name"]

[[disclosure]]
subject = "company"
grades = ["D"]
company_kinds = ["restaurant"]
fields = ["name", "grade"]
''')


def test_the_public_list_shows_exactly_what_the_policy_discloses(db_url):
    """Only the fields each rule names, only the kinds of company it covers, never an
    undisclosed list, a grade or a record id it does not name."""
    c = Client(db_url, parse_policy(DISCLOSING), date(2026, 6, 30))
    c.record("c1", "alice", "court_judgment_default", "court", D0, evidence="case 12/2026")
    for i in range(6):
        c.record(f"s{i}", "shop", "late_payment", "financial", date(2026, 6, i + 1),
                 subject_kind="restaurant")
        c.record(f"w{i}", "works", "late_payment", "financial", date(2026, 6, i + 1),
                 subject_kind="firm")
    me = c.http.get("/v1/subjects/alice", headers=c.as_subject('alice')).json()
    assert {x["name"] for x in me["lists"]} == {"blacklist", "watchlist"}
    works = c.http.get("/v1/subjects/works", headers=c.as_subject('works')).json()
    assert works["grade"] == "D"
    page = c.http.get("/v1/public/list").json()
    assert page["items"] == [{"type": "person", "subject": "alice"},
                             {"type": "company", "subject": "shop", "grade": "D"}]
    assert page["total"] == 2
    # search finds published names only
    assert c.http.get("/v1/public/list", params={"q": "works"}).json()["total"] == 0
    # a company's kind is kept, and behaviours limited to some kinds are checked
    bad = c.record("w9", "works", "inspection_failed", "inspection", date(2026, 6, 9))
    assert bad.status_code == 422
    assert "not about a firm" in bad.text
    other = c.record("s9", "shop", "late_payment", "financial", date(2026, 6, 9),
                     subject_kind="firm")
    assert other.status_code == 422
    assert "is a restaurant" in other.text


def test_a_ban_wipes_points_and_the_file_says_so(db_url):
    """driving-points: 12 points start a 183-day ban that wipes them. The file shows
    the records as wiped on that day, and the state holds until the ban ends."""
    c = Client(db_url, load_scenario("driving-points"), date(2026, 6, 30))
    c.record("m1", "dan", "mobile_phone_use", "police", date(2026, 5, 1))
    c.record("m2", "dan", "mobile_phone_use", "police", date(2026, 6, 10))
    me = c.http.get("/v1/subjects/dan", headers=c.as_subject('dan')).json()
    end = date(2026, 6, 10) + timedelta(days=182)
    assert me["score"] == 0
    assert me["lists"] == [{"name": "disqualified", "type": "black", "until": end.isoformat(),
                            "rule": "a 183-day ban from 2026-06-10 until"
                                    f" {end.isoformat()}, begun when the score crossed the"
                                    " threshold"}]
    assert me["holds_until"] == end.isoformat()
    file = c.http.get("/v1/subjects/dan/file", headers=c.as_subject('dan')).json()
    # m2 started the ban that wiped it the day it came: it never counted in a state
    assert [(r["id"], r["status"], r["counts_until"], r["wiped_on"])
            for r in file["records"]] == [("m1", "wiped", "2026-06-09", "2026-06-10"),
                                          ("m2", "wiped", None, "2026-06-10")]
    assert not c.checks("driving", ["dan"])["dan"]
    c.clock.today = end + timedelta(days=1)
    assert c.checks("driving", ["dan"])["dan"]


def test_a_rating_is_the_newest_inspection_and_is_published_with_its_date(db_url):
    """food-hygiene: the latest inspection sets the rating; the public list shows the
    rating and that inspection's date, as the policy's fields say."""
    c = Client(db_url, load_scenario("food-hygiene"), date(2026, 6, 30))
    c.record("i1", "cafe", "rated_1", "inspection", date(2025, 1, 10))
    c.record("i2", "cafe", "rated_4", "inspection", date(2026, 2, 3))
    c.record("i3", "deli", "rated_0", "inspection", date(2022, 1, 3))  # out of the window
    me = c.http.get("/v1/subjects/cafe", headers=c.as_subject('cafe')).json()
    assert me["grade"] == "4"
    page = c.http.get("/v1/public/list").json()
    assert page["items"] == [{"type": "company", "subject": "cafe", "grade": "4",
                              "record_date": "2026-02-03"}]
    file = c.http.get("/v1/subjects/deli/file", headers=c.as_subject('deli')).json()
    assert file["records"][0]["status"] == "expired"
    assert file["records"][0]["counts_until"] == "2025-01-01"


@pytest.mark.parametrize("grades", [["C", "D"]])
def test_a_grade_based_sanction_reaches_the_children_in_the_service(db_url, grades):
    policy = parse_policy(scenario_path("reference").read_text(encoding="utf-8") + f'''
[[measures]]
name = "children_of_low_grades"
type = "sanction"
service = "childcare"
grades = {grades}
reaches = "children"
''')
    c = Client(db_url, policy, date(2026, 6, 30))
    for i in range(5):  # 5 x -30: score 850, grade B; a sixth: 820, grade C
        c.record(f"d{i}", "pat", "late_debt_payment", "financial", date(2026, 6, i + 1))
    c.http.put("/v1/subjects/kim/guardian", headers=c.h("recorder"), json={"guardian": "pat"})
    assert c.checks("childcare", ["kim", "pat"]) == {"kim": True, "pat": True}
    c.record("d9", "pat", "late_debt_payment", "financial", date(2026, 6, 9))
    assert c.checks("childcare", ["kim", "pat"]) == {"kim": False, "pat": True}
    kid = c.http.get("/v1/subjects/kim", headers=c.as_subject('kim')).json()
    assert kid["measures"][0]["rule"] == "guardian is in grade C"


def test_guardian_links_that_make_no_family_are_refused(db_url):
    """A subject cannot be its own guardian, a guardian cannot become a child, nor a
    company (each once answered 200, and the subject's view then a 500)."""
    c = Client(db_url, load_scenario("reference"), date(2026, 6, 30))
    c.record("v1", "ann", "volunteering", "registry", D0)
    c.record("v2", "ben", "volunteering", "registry", D0)
    c.record("p1", "shop", "late_payment", "financial", D0)

    def link(child: str, guardian: str) -> int:
        return c.http.put(f"/v1/subjects/{child}/guardian", headers=c.h("recorder"),
                          json={"guardian": guardian}).status_code

    assert link("kid", "ann") == 200
    assert link("ann", "ann") == 422   # its own guardian
    assert link("ann", "ben") == 422   # ann has records (and a child): an adult
    assert link("kid2", "kid") == 422  # a child cannot be a guardian
    assert link("shop", "ben") == 422  # a company
    assert link("lone", "lone") == 422
    for who in ("ann", "ben", "kid"):
        assert c.http.get(f"/v1/subjects/{who}", headers=c.as_subject(who)).status_code == 200


def test_a_company_kind_is_kept_and_checked_against_its_records(db_url):
    """Setting a kind that the company's records contradict is refused; a retry of a
    stored record is answered as the first time even if the kind changed since."""
    c = Client(db_url, load_scenario("reference"), date(2026, 6, 30))
    first = c.record("h1", "cafe", "inspection_failed", "inspection", D0, evidence="x")
    assert first.status_code == 201
    firm = c.record("p1", "cafe", "late_payment", "financial", D0, subject_kind="firm")
    assert firm.status_code == 422
    assert "inspection_failed records, which no firm has" in firm.text
    assert c.record("p2", "cafe", "late_payment", "financial", D0,
                    subject_kind="restaurant").status_code == 201
    again = c.record("h1", "cafe", "inspection_failed", "inspection", D0, evidence="x")
    assert again.status_code == 200
    assert again.json() == first.json()
    # a batch names the record at fault
    bad = c.http.post("/v1/records/batch", headers=c.h("recorder"), json={"records": [
        {"id": "b1", "subject": "cafe", "kind": "late_payment", "channel": "financial",
         "occurred_at": "2026-03-02"},
        {"id": "b2", "subject": "works", "kind": "late_payment", "channel": "financial",
         "occurred_at": "2026-03-02", "subject_kind": "firm"},
        {"id": "b3", "subject": "works", "kind": "inspection_passed", "channel": "inspection",
         "occurred_at": "2026-03-02"}]})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "records", 2, "kind"]
    nothing = c.http.get("/v1/subjects/works", headers=c.as_subject("works"))
    assert nothing.status_code == 200
    assert nothing.json()["type"] is None


ANONYMOUS = DISCLOSING.replace('list = "blacklist"\nfields = ["name"]\n',
                               'list = "blacklist"\nfields = ["name"]\n\n[[disclosure]]\n'
                               'subject = "person"\nlist = "watchlist"\nfields = ["score"]\n')


def test_anonymous_disclosure_shows_no_id_and_links_nothing(db_url):
    """A rule without "name" publishes entries without an id; a subject published by a
    named and an anonymous rule gets two entries, so the anonymous fields are not tied
    to its name; /public renders them."""
    assert ANONYMOUS != DISCLOSING
    c = Client(db_url, parse_policy(ANONYMOUS), date(2026, 6, 30))
    c.record("c1", "alice", "court_judgment_default", "court", D0)  # blacklist and watchlist
    c.record("r1", "bob", "spreading_rumors", "online", D0)         # watchlist only
    items = c.http.get("/v1/public/list").json()["items"]
    assert items == [{"type": "person", "subject": "alice"},
                     {"type": "person", "score": 900}, {"type": "person", "score": 980}]
    assert c.http.get("/v1/public/list", params={"q": "b"}).json()["total"] == 0
    page = c.http.get("/public")
    assert page.status_code == 200
    assert "(not published)" in page.text


def test_a_ledger_is_not_loaded_again_under_another_start(db_url, tmp_path):
    from socialcredit import simulate
    from socialcredit.engine import compile_policy
    from socialcredit.errors import RunOutputError
    from socialcredit.ledger import LedgerWriter
    from socialcredit.service import ingest_ledger
    from socialcredit.service._rules import Rules

    policy = load_scenario("reference")
    plans = compile_policy(policy)
    writer = LedgerWriter(tmp_path, plans, policy)
    run = simulate(policy, population=500, days=30, ledger=writer, society=writer.society)
    writer.close()
    rules = Rules(policy)
    assert ingest_ledger(tmp_path / "ledger", db_url, rules, D0) == run.records
    with pytest.raises(RunOutputError, match=r"loaded before with day 0 on 2026-03-01"):
        ingest_ledger(tmp_path / "ledger", db_url, rules, D0 + timedelta(days=1))


def test_a_company_kind_the_policy_no_longer_has_is_treated_as_unknown(db_url):
    c = Client(db_url, load_scenario("reference"), date(2026, 6, 30))
    for i in range(6):
        c.record(f"s{i}", "shop", "late_payment", "financial", date(2026, 6, i + 1),
                 subject_kind="restaurant")
    renamed = scenario_path("reference").read_text(encoding="utf-8").replace(
        'name = "restaurant"', 'name = "eatery"').replace(
        'company_kinds = ["restaurant"]', 'company_kinds = ["eatery"]').replace(
        'company_kind = "restaurant"', 'company_kind = "eatery"')
    later = TestClient(create_app(parse_policy(renamed), db_url, today=lambda: date(2026, 6, 30)))
    page = later.get("/v1/public/list")
    assert page.status_code == 200
    assert page.json()["items"] == [{"type": "company", "subject": "shop", "why": ["in grade D"]}]
