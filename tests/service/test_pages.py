"""The pages: in Debian's Chromium (Playwright) the public list with search, a subject's
file with an appeal, the reviewer's queue, the auditor's log and the API docs, every
asset local and nothing refused by the Content-Security-Policy; through the test client
the cookies' attributes, CSRF on every form, the message codes, the security headers on
every response, and log-in."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx
import pytest
from fastapi.testclient import TestClient

from socialcredit.service import create_app, create_token, make_engine, upgrade
from socialcredit.service._security import CSP
from socialcredit.service.routes.pages import flash_text
from tests.service.conftest import TODAY, reference_policy
from tests.service.test_reliability import free_port, start_server, stop


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    db = f"sqlite:///{tmp_path_factory.mktemp('pages') / 'pages.db'}"
    upgrade(db)
    engine = make_engine(db)
    tok = {role: create_token(engine, role) for role in ("recorder", "reviewer", "auditor")}
    tok["alice"] = create_token(engine, "subject", subject="alice")
    port = free_port()
    proc = start_server(db, port)
    base = f"http://127.0.0.1:{port}"
    h = {"Authorization": f"Bearer {tok['recorder']}"}
    for rid, subject, kind, channel in [
            ("c1", "alice", "court_judgment_default", "court"),
            ("v1", "bob", "volunteering", "registry"),
            ("c2", "carol", "court_judgment_default", "court")]:
        r = httpx.post(f"{base}/v1/records", headers=h, json={
            "id": rid, "subject": subject, "kind": kind, "occurred_at": "2026-05-01",
            "channel": channel})
        assert r.status_code == 201, r.text
    gate = create_token(engine, "gatekeeper", service="flight")
    r = httpx.post(f"{base}/v1/checks", headers={"Authorization": f"Bearer {gate}"},
                   json=[{"subject": s, "service": "flight"} for s in ("alice", "bob")])
    assert r.status_code == 200, r.text
    yield base, tok
    stop(proc)


def page_for(browser, base: str):
    ctx = browser.new_context()
    page = ctx.new_page()
    outside: list[str] = []
    errors: list[str] = []
    page.on("request", lambda r: outside.append(r.url) if not r.url.startswith(base) else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    # a Content-Security-Policy refusal is a console error (an answer's status too: not
    # counted, the tests check statuses)
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" and not
            m.text.startswith("Failed to load resource") else None)
    return ctx, page, outside, errors


def login(page, base: str, token: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=token]", token)
    page.click("text=Log in >> nth=-1")


@pytest.mark.browser
@pytest.mark.slow
def test_public_list_and_search(browser, server):
    base, _ = server
    ctx, page, outside, errors = page_for(browser, base)
    page.goto(f"{base}/public")
    rows = page.locator("#public-list tbody tr")
    assert rows.count() == 2
    assert "on blacklist" in page.inner_text("#public-list")
    assert "c1" not in page.inner_text("#public-list")  # no record id is published
    page.fill("input[name=q]", "car")
    page.click("text=Search")
    assert page.locator("#public-list tbody tr").count() == 1
    assert "carol" in page.inner_text("#public-list")
    assert outside == []
    assert errors == []
    ctx.close()


@pytest.mark.browser
@pytest.mark.slow
def test_subject_appeals_reviewer_upholds_auditor_sees(browser, server, tmp_path):
    base, tok = server
    ctx, page, outside, errors = page_for(browser, base)
    login(page, base, tok["alice"])
    assert page.url.endswith("/me")
    assert page.inner_text("#score") == "900"
    assert "blacklist" in page.inner_text("main")
    assert "no_flights" in page.inner_text("#measures")
    page.fill("#rec-c1 textarea", "I paid; the court was informed")
    page.click("#rec-c1 >> text=Appeal")
    assert "Appeal 1 opened on c1" in page.inner_text("#flash")
    page.screenshot(path=str(tmp_path / "my-file.png"), full_page=True)
    ctx.close()

    ctx2, rpage, outside2, errors2 = page_for(browser, base)
    login(rpage, base, tok["reviewer"])
    assert rpage.url.endswith("/review")
    assert "I paid; the court was informed" in rpage.inner_text("#appeals")
    rpage.fill("#appeals textarea", "receipt verified")
    rpage.click("text=Uphold (void the record)")
    assert "Appeal 1 upheld" in rpage.inner_text("#flash")
    ctx2.close()

    ctx3, page3, outside3, errors3 = page_for(browser, base)
    login(page3, base, tok["alice"])
    assert page3.inner_text("#score") == "1000"
    assert "voided" in page3.inner_text("#rec-c1")
    assert page3.locator("#no-lists").count() == 1
    ctx3.close()

    ctx4, apage, outside4, errors4 = page_for(browser, base)
    login(apage, base, tok["auditor"])
    assert "2 subjects" in apage.inner_text("#audit")  # the batch check, as one entry
    apage.fill("input[name=subject]", "alice")
    apage.click("text=Filter")
    log = apage.inner_text("#audit")
    for what in ("appeal", "appeal_decision", "view_file", "record", "check"):
        assert what in log
    ctx4.close()
    assert outside + outside2 + outside3 + outside4 == []
    assert errors + errors2 + errors3 + errors4 == []


@pytest.mark.browser
@pytest.mark.slow
def test_pages_need_the_right_token(browser, server):
    base, tok = server
    ctx, page, outside, errors = page_for(browser, base)
    page.goto(f"{base}/review")
    assert page.url.startswith(f"{base}/login")
    assert "Please log in with a suitable token." in page.inner_text("#flash")
    login(page, base, tok["alice"])
    page.goto(f"{base}/audit-log")
    assert page.url.startswith(f"{base}/login")
    login(page, base, "sc_bad_token")
    assert "Unknown token." in page.inner_text("#error")
    login(page, base, tok["alice"])
    page.click("text=Log out")
    assert page.url == f"{base}/public?flash=logged_out"
    assert page.inner_text("#flash") == "Logged out."
    page.goto(f"{base}/me")
    assert page.url.startswith(f"{base}/login")
    assert outside == []
    assert errors == []
    ctx.close()


@pytest.mark.browser
@pytest.mark.slow
def test_docs_in_the_browser(browser, server):
    base, _ = server
    ctx, page, outside, errors = page_for(browser, base)
    page.goto(f"{base}/docs")
    page.wait_for_selector(".opblock", timeout=30_000)
    assert page.locator(".opblock").count() > 10
    health = page.locator(".opblock", has_text="/v1/health")
    health.locator(".opblock-summary").click()
    health.locator("text=Try it out").click()
    health.locator("text=Execute").click()
    assert health.locator(".live-responses-table tbody .response-col_status").first.inner_text(
        timeout=10_000).strip() == "200"
    assert outside == []
    assert errors == []
    ctx.close()


# Through the test client, on SQLite and PostgreSQL.

SECURITY_HEADERS = {"content-security-policy": CSP, "x-frame-options": "DENY",
                    "x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


class Forms(HTMLParser):
    """The forms of a page: method, action and their inputs' names and values."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"method": a.get("method", "get"), "action": a.get("action"),
                               "inputs": {}})
        elif tag == "input" and self.forms:
            self.forms[-1]["inputs"][a.get("name")] = a.get("value")


def cookie(resp: httpx.Response, name: str) -> tuple[str, set[str]]:
    """The value and the attributes (lowercased) of the Set-Cookie for `name`."""
    for header in resp.headers.get_list("set-cookie"):
        first, *attrs = [part.strip() for part in header.split(";")]
        key, _, value = first.partition("=")
        if key == name:
            return value.strip('"'), {a.lower() for a in attrs}
    raise AssertionError(f"no Set-Cookie for {name}: {resp.headers.get_list('set-cookie')}")


def csrf(client: TestClient, path: str = "/login") -> str:
    """Open `path` as a browser would; the CSRF token its forms repeat."""
    r = client.get(path)
    assert r.status_code == 200, r.text
    return client.cookies["sc_csrf"]


def log_in(svc, who: str, client: TestClient | None = None) -> TestClient:
    client = client or TestClient(svc.app)
    r = client.post("/login", data={"token": svc.tokens[who], "csrf": csrf(client)},
                    follow_redirects=False)
    assert r.status_code == 303, r.text
    return client


def open_appeal(svc, record: str) -> int:
    r = svc.client.post("/v1/appeals", headers=svc.h("alice"),
                        json={"record": record, "statement": "not me"})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def queue(svc) -> dict:
    return svc.client.get("/v1/review/queue", headers=svc.h("reviewer")).json()


def test_cookies_are_httponly_strict_and_secure_over_tls(svc):
    for base, secure in (("http://testserver", False), ("https://testserver", True)):
        client = TestClient(svc.app, base_url=base)
        r = client.get("/login")
        _, attrs = cookie(r, "sc_csrf")
        assert {"httponly", "samesite=strict", "path=/"} <= attrs
        assert ("secure" in attrs) is secure
        r = client.post("/login", data={"token": svc.tokens["alice"],
                                        "csrf": client.cookies["sc_csrf"]},
                        follow_redirects=False)
        assert r.status_code == 303
        for name in ("sc_token", "sc_csrf"):  # log-in sets both
            value, attrs = cookie(r, name)
            assert {"httponly", "samesite=strict", "path=/"} <= attrs
            assert ("secure" in attrs) is secure
        assert client.get("/me").status_code == 200
        r = client.post("/logout", data={"csrf": client.cookies["sc_csrf"]},
                        follow_redirects=False)
        assert r.status_code == 303
        value, attrs = cookie(r, "sc_token")
        assert value == ""
        assert {"httponly", "samesite=strict", "path=/", "max-age=0"} <= attrs
        assert ("secure" in attrs) is secure
        assert client.get("/me", follow_redirects=False).status_code == 303


def test_login_rotates_the_csrf_token(svc):
    client = TestClient(svc.app)
    before = csrf(client)
    r = client.post("/login", data={"token": svc.tokens["alice"], "csrf": before},
                    follow_redirects=False)
    after, _ = cookie(r, "sc_csrf")
    assert after != before
    assert csrf(client, "/me") == after


def test_every_post_form_repeats_the_csrf_cookie(svc):
    svc.record("c1", "alice", "court_judgment_default")
    svc.record("c2", "alice", "court_judgment_default")
    svc.record("cam1", "bob", "running_red_light", confidence=0.5)
    open_appeal(svc, "c2")
    pages = [("alice", "/me", {"/logout", "/me/appeal"}),
             ("reviewer", "/review", {"/logout", "/review/appeals/1", "/review/records/cam1"}),
             ("auditor", "/audit-log", {"/logout"}), (None, "/login", {"/login"})]
    for who, path, actions in pages:
        client = log_in(svc, who) if who else TestClient(svc.app)
        r = client.get(path)
        assert r.status_code == 200, r.text
        posts = [f for f in Forms(r.text).forms if f["method"] == "post"]
        assert {f["action"] for f in posts} == actions
        for form in posts:
            assert form["inputs"]["csrf"] == client.cookies["sc_csrf"]
        for form in Forms(r.text).forms:  # the token is never put in a URL
            assert form["method"] == "post" or "csrf" not in form["inputs"]


def test_a_form_without_the_matching_csrf_token_is_refused_and_does_nothing(svc):
    svc.record("c1", "alice", "court_judgment_default")
    svc.record("c2", "alice", "court_judgment_default")
    svc.record("cam1", "bob", "running_red_light", confidence=0.5)
    appeal = open_appeal(svc, "c2")
    alice, reviewer = log_in(svc, "alice"), log_in(svc, "reviewer")
    posts = [(alice, "/me/appeal", {"record": "c1", "statement": "not me"}),
             (reviewer, f"/review/appeals/{appeal}", {"upheld": "true", "note": "ok"}),
             (reviewer, "/review/records/cam1", {"confirmed": "true"}),
             (alice, "/logout", {}),
             (TestClient(svc.app), "/login", {"token": svc.tokens["auditor"]})]
    for client, path, form in posts:
        good = csrf(client, "/login")
        for bad in ({}, {"csrf": ""}, {"csrf": good[:-1] + ("A" if good[-1] != "A" else "B")},
                    {"csrf": "é" * 43}):
            r = client.post(path, data={**form, **bad}, follow_redirects=False)
            assert r.status_code == 403, (path, bad, r.text)
            assert "nothing was done" in r.text
            assert "sc_token" not in r.headers.get("set-cookie", "")
        # the field alone, without the cookie, is refused too
        bare = TestClient(svc.app)
        bare.cookies.set("sc_token", client.cookies.get("sc_token") or "")
        r = bare.post(path, data={**form, "csrf": good}, follow_redirects=False)
        assert r.status_code == 403, (path, r.text)
    q = queue(svc)
    assert [a["id"] for a in q["open_appeals"]] == [appeal]  # none opened, none decided
    assert [r["id"] for r in q["pending_records"]] == ["cam1"]
    assert alice.get("/me", follow_redirects=False).status_code == 200  # still logged in
    # with the token, each form does what it says
    for client, path, form in posts:
        r = client.post(path, data={**form, "csrf": csrf(client, "/login")},
                        follow_redirects=False)
        assert r.status_code == 303, (path, r.text)
    q = queue(svc)
    assert [(a["id"], a["record"]) for a in q["open_appeals"]] == [(appeal + 1, "c1")]
    assert q["pending_records"] == []
    assert alice.get("/me", follow_redirects=False).status_code == 303  # logged out


def test_messages_are_codes_never_text_from_the_url(svc):
    client = TestClient(svc.app)
    for query in ("flash=You+are+on+the+blacklist", "flash=%3Cscript%3Ex%3C/script%3E",
                  "flash=appeal_opened&appeal=1", "flash=appeal_opened&appeal=1&record=a<b",
                  "flash=appeal_opened&appeal=1x&record=c1", "flash=__class__",
                  f"flash=record_confirmed&record={'a' * 129}",
                  "flash=record_confirmed&record=c1%0A", "flash=record_confirmed&record=-c1"):
        r = client.get(f"/public?{query}")
        assert r.status_code == 200
        assert 'id="flash"' not in r.text, query
        assert "blacklist" not in r.text.split("<main>")[1].split("<h1>")[0]
    r = client.get("/login?flash=login_needed")
    assert '<p class="flash" id="flash">Please log in with a suitable token.</p>' in r.text
    assert client.get("/public?flash=logged_out&x=<b>").text.count("Logged out.") == 1
    assert flash_text({"flash": "appeal_opened", "appeal": "12", "record": "a.b:c-d_e"}) == (
        "Appeal 12 opened on a.b:c-d_e.")
    assert flash_text({"flash": "record_rejected", "record": "a" * 128}) == (
        f"Record {'a' * 128} rejected.")
    assert flash_text({"flash": "record_rejected", "record": "a" * 129}) is None


def test_actions_redirect_with_codes_and_show_refusals_without_a_redirect(svc):
    svc.record("c1", "alice", "court_judgment_default")
    svc.record("cam1", "bob", "running_red_light", confidence=0.5)
    alice = log_in(svc, "alice")
    token = alice.cookies["sc_csrf"]
    r = alice.post("/me/appeal", data={"record": "c1", "statement": "paid", "csrf": token},
                   follow_redirects=False)
    assert r.headers["location"] == "/me?flash=appeal_opened&appeal=1&record=c1"
    assert "Appeal 1 opened on c1." in alice.get(r.headers["location"]).text
    # refused: the reason on the page itself, with the error's status; no URL carries it
    r = alice.post("/me/appeal", data={"record": "c1", "statement": "again", "csrf": token},
                   follow_redirects=False)
    assert r.status_code == 409
    assert "location" not in r.headers
    assert re.search(r'id="error">Appeal not opened: record .*c1.* already has an open appeal',
                     r.text)
    r = alice.post("/me/appeal", data={"record": "nope<x>", "statement": "x", "csrf": token},
                   follow_redirects=False)
    assert r.status_code == 422
    assert "nope<x>" not in r.text  # pydantic's message, without the input it echoes
    reviewer = log_in(svc, "reviewer")
    token = reviewer.cookies["sc_csrf"]
    r = reviewer.post("/review/appeals/1", data={"upheld": "false", "note": "no", "csrf": token},
                      follow_redirects=False)
    assert r.headers["location"] == "/review?flash=appeal_rejected&appeal=1"
    r = reviewer.post("/review/appeals/1", data={"upheld": "true", "note": "no", "csrf": token},
                      follow_redirects=False)
    assert r.status_code == 409
    assert "Not decided: appeal 1 is already rejected" in r.text
    r = reviewer.post("/review/records/cam1", data={"confirmed": "true", "csrf": token},
                      follow_redirects=False)
    assert r.headers["location"] == "/review?flash=record_confirmed&record=cam1"
    assert "Record cam1 confirmed." in reviewer.get(r.headers["location"]).text
    r = reviewer.post("/review/records/cam1", data={"confirmed": "false", "csrf": token},
                      follow_redirects=False)
    assert r.status_code == 409
    assert "Not reviewed: record" in r.text
    assert TestClient(svc.app).get("/me", follow_redirects=False).headers["location"] == (
        "/login?flash=login_needed")


def test_login_takes_the_token_from_the_body_and_fails_with_one_message(svc):
    client = TestClient(svc.app)
    r = client.get(f"/login?token={svc.tokens['alice']}")
    assert r.status_code == 200
    assert "sc_token" not in r.headers.get("set-cookie", "")
    (form,) = Forms(r.text).forms
    assert form["method"] == "post"
    assert form["action"] == "/login"
    assert "token" in form["inputs"]
    token = client.cookies["sc_csrf"]
    r = client.post(f"/login?token={svc.tokens['alice']}", data={"csrf": token},
                    follow_redirects=False)  # a token in the URL is not read
    assert r.status_code == 401
    for bad in ("", "sc_bad_token", "x" * 300, "Bearer", "a b", "sc_\u00e9"):
        r = client.post("/login", data={"token": bad, "csrf": token}, follow_redirects=False)
        assert r.status_code == 401, bad
        assert '<p class="error" id="error">Unknown token.</p>' in r.text
        assert "sc_token" not in r.headers.get("set-cookie", "")
        if len(bad) > 8:
            assert bad not in r.text


def test_security_headers_on_every_response(svc):
    svc.record("c1", "alice", "court_judgment_default")
    client = TestClient(svc.app)
    answers = {
        "page": client.get("/public"),
        "login page": client.get("/login"),
        "refused form": client.post("/login", data={"token": "x"}),
        "failed login": client.post("/login", data={"token": "x",
                                                    "csrf": client.cookies["sc_csrf"]}),
        "redirect": client.get("/me", follow_redirects=False),
        "docs": client.get("/docs"),
        "openapi": client.get("/openapi.json"),
        "health": client.get("/v1/health"),
        "file": client.get("/v1/subjects/alice/file", headers=svc.h("alice")),
        "created": svc.record("c2", "alice", "court_judgment_default"),
        "401": client.get("/v1/subjects/alice"),
        "403": client.get("/v1/subjects/bob", headers=svc.h("alice")),
        "404": client.get("/nowhere"),
        "422": client.post("/v1/records", headers=svc.h("recorder"), json={}),
        "413": client.post("/v1/records", headers=svc.h("recorder"),
                           content=b" " * (4 * 2**20 + 1)),
        "public list": client.get("/v1/public/list"),
        "public policy": client.get("/v1/public/policy"),
        "asset": client.get("/static/docs/init.js"),
    }
    # an anonymous client over its rate, and an unhandled error, from the outer layers
    app = create_app(reference_policy(), svc.url, today=lambda: TODAY,
                     anonymous_rate=(0.001, 1))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("boom")

    other = TestClient(app, raise_server_exceptions=False)
    answers["500"] = other.get("/boom")
    answers["429"] = other.get("/v1/health")
    expected = {"refused form": 403, "failed login": 401, "redirect": 303, "created": 201,
                "401": 401, "403": 403, "404": 404, "422": 422, "413": 413, "500": 500,
                "429": 429}
    for what, r in answers.items():
        assert r.status_code == expected.get(what, 200), (what, r.status_code, r.text[:200])
        for name, value in SECURITY_HEADERS.items():
            assert r.headers.get_list(name) == [value], (what, name)
        cache = r.headers.get_list("cache-control")
        if what in ("public list", "public policy", "asset"):
            assert "no-store" not in ",".join(cache), what
        else:
            assert cache == ["no-store"], (what, cache)


def test_docs_come_from_local_assets(svc):
    client = TestClient(svc.app)
    r = client.get("/docs")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/html")
    assert "cdn" not in r.text.lower()
    assert not re.search(r"(https?:)?//", r.text)  # no absolute URL: same origin only
    assert "<script>" not in r.text  # no inline script: CSP script-src 'self' holds
    assets = re.findall(r'(?:src|href)="([^"]+)"', r.text)
    assert len(assets) == 4
    types = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
    for url in assets:
        a = client.get(url)
        assert a.status_code == 200, url
        assert a.headers["content-type"].startswith(types[url[url.rindex("."):]]), url
    assert client.get('/openapi.json').json()["openapi"].startswith("3.1")
    assert re.search(r'data-openapi-url="/openapi.json"', r.text)
    assert "SwaggerUIBundle(" in client.get("/static/docs/init.js").text
    for other in ("index.html", "swagger-ui-bundle.js.map", "..%2F..%2F__init__.py"):
        assert client.get(f"/static/docs/{other}").status_code == 404
    script_src = next(d for d in CSP.split("; ") if d.startswith("script-src"))
    assert script_src == "script-src 'self'"
