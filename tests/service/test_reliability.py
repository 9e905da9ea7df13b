"""Reliability: concurrent writers, and a server killed in the middle of writes.

The server runs as a real process (`socialcredit serve`) on a free loopback port; every
request loop is bounded in count and time."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from socialcredit.service import create_token, make_engine, upgrade
from socialcredit.service._db import appeals, dispose_engines, records


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(db: str, port: int) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-m", "socialcredit.cli", "serve", "--policy", "reference",
         "--db", db, "--port", str(port), "--today", "2026-06-30"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/health", timeout=1).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.2)
        if proc.poll() is not None:
            message = proc.stderr.read().decode()
            proc.stderr.close()
            raise RuntimeError(message)
    stop(proc, signal.SIGKILL)
    raise RuntimeError("server did not start within 60 s")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
        proc.wait(timeout=30)
    if proc.stderr is not None:
        proc.stderr.close()


def body(i: int, subject: str) -> dict:
    return {"id": f"rec-{i}", "subject": subject, "kind": "volunteering",
            "occurred_at": "2026-06-01", "channel": "registry"}


@pytest.mark.slow
def test_concurrent_writers_with_overlapping_ids(db_url):
    port = free_port()
    proc = start_server(db_url, port)
    try:
        token = create_token(make_engine(db_url), "recorder")
        h = {"Authorization": f"Bearer {token}"}
        url = f"http://127.0.0.1:{port}/v1/records"

        def writer(w: int) -> list[int]:
            codes = []
            with httpx.Client(timeout=30) as c:
                for i in range(60):  # writers overlap: ids 0..119, each sent by 4 writers
                    k = (i + 15 * w) % 120
                    codes.append(c.post(url, json=body(k, f"s{k % 7}"), headers=h).status_code)
            return codes

        with ThreadPoolExecutor(8) as pool:
            codes = [c for cs in pool.map(writer, range(8)) for c in cs]
        assert set(codes) <= {200, 201}
        assert codes.count(201) == 120
        with make_engine(db_url).connect() as conn:
            n = conn.execute(sa.select(sa.func.count()).select_from(records)).scalar_one()
            distinct = conn.execute(sa.select(sa.func.count(sa.distinct(records.c.id)))
                                    ).scalar_one()
        assert n == distinct == 120
    finally:
        stop(proc)


@pytest.mark.slow
def test_sigkill_loses_no_acknowledged_write_and_no_half_appeal(tmp_path: Path):
    db = f"sqlite:///{tmp_path / 'crash.db'}"
    upgrade(db)
    engine = make_engine(db)
    rec_h = {"Authorization": f"Bearer {create_token(engine, 'recorder')}"}
    rev_h = {"Authorization": f"Bearer {create_token(engine, 'reviewer')}"}
    sub_h = {"Authorization": f"Bearer {create_token(engine, 'subject', subject='victim')}"}
    port = free_port()
    proc = start_server(db, port)
    base = f"http://127.0.0.1:{port}"
    acked: list[str] = []
    decided: list[int] = []
    stop_flag = threading.Event()

    def stream() -> None:
        with httpx.Client(timeout=5) as c:
            for i in range(5000):  # bounded; the kill comes long before
                if stop_flag.is_set():
                    return
                try:
                    r = c.post(f"{base}/v1/records", headers=rec_h,
                               json={**body(i, "victim"), "kind": "late_debt_payment",
                                     "channel": "financial"})
                    if r.status_code in (200, 201):
                        acked.append(f"rec-{i}")
                    if i % 5 == 0:
                        a = c.post(f"{base}/v1/appeals", headers=sub_h,
                                   json={"record": f"rec-{i}", "statement": "not me"})
                        d = c.post(f"{base}/v1/appeals/{a.json()['id']}/decision",
                                   headers=rev_h, json={"upheld": True, "note": "ok"})
                        if d.status_code == 200:
                            decided.append(a.json()["id"])
                except (httpx.TransportError, KeyError, ValueError):
                    return

    t = threading.Thread(target=stream)
    t.start()
    deadline = time.monotonic() + 30
    while len(acked) < 100 and time.monotonic() < deadline:
        time.sleep(0.05)
    stop(proc, signal.SIGKILL)
    stop_flag.set()
    t.join(timeout=30)
    assert len(acked) >= 100
    dispose_engines(db)
    with make_engine(db).connect() as conn:
        stored = set(conn.execute(sa.select(records.c.id)).scalars())
        ap = conn.execute(sa.select(appeals.c.id, appeals.c.status, records.c.status)
                          .join(records, records.c.id == appeals.c.record_id)).all()
    assert set(acked) <= stored  # nothing acknowledged was lost
    for _aid, a_status, r_status in ap:  # an appeal is applied whole or not at all
        assert (a_status == "upheld") == (r_status == "voided")
    assert {a for a, s, _ in ap if s == "upheld"} >= set(decided)
    # and the server comes back on the same file
    proc = start_server(db, port)
    try:
        assert httpx.get(f"{base}/v1/health", timeout=5).status_code == 200
    finally:
        stop(proc)
