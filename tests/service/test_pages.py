"""The pages in Debian's Chromium (Playwright): public list with search, a subject's file
with an appeal, the reviewer's queue, the auditor's log. Every asset is local."""

from __future__ import annotations

import httpx
import pytest

from socialcredit.service import create_token, make_engine, upgrade
from tests.service.test_reliability import free_port, start_server, stop

pytestmark = [pytest.mark.browser, pytest.mark.slow]


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
    return ctx, page, outside, errors


def login(page, base: str, token: str) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=token]", token)
    page.click("text=Log in >> nth=-1")


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


def test_pages_need_the_right_token(browser, server):
    base, tok = server
    ctx, page, _, _ = page_for(browser, base)
    page.goto(f"{base}/review")
    assert page.url.startswith(f"{base}/login")
    login(page, base, tok["alice"])
    page.goto(f"{base}/audit-log")
    assert page.url.startswith(f"{base}/login")
    login(page, base, "sc_bad_token")
    assert "Unknown token." in page.inner_text("#error")
    ctx.close()
