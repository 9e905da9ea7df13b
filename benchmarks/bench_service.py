"""Speed of the service: ingest, single checks over HTTP, batch checks.

    python benchmarks/bench_service.py --persons 100000 [--db URL] [--checks 4000]

Builds the database from a simulated `reference` ledger (timing the ingest), starts
`socialcredit serve` on a free loopback port, then times single checks from 8 client
threads (throughput and p99 latency) and batch checks of 1,000 subjects.

Targets (issue: service), with 1 M subjects and 30 M records in SQLite: single checks
p99 <= 5 ms and >= 2,000/s; batch checks >= 200,000 subjects/s; ingest >= 50,000
records/s. The same figures against PostgreSQL.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from pathlib import Path

import httpx
import pyarrow.compute as pc
import pyarrow.parquet as pq

from socialcredit import load_scenario, simulate
from socialcredit.engine._plan import compile_policy
from socialcredit.ledger import LedgerWriter
from socialcredit.service import create_token, ingest_ledger, make_engine, upgrade
from socialcredit.service._rules import Rules

START = date(2025, 1, 1)
DAYS = 365


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, default=100_000)
    ap.add_argument("--db", default=None,
                    help="default: a SQLite file in a temp folder; give PostgreSQL a database"
                         " of its own (the benchmark creates its tables there)")
    ap.add_argument("--checks", type=int, default=4000)
    ap.add_argument("--workers", type=int, default=1, help="uvicorn processes")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sc-bench-"))
    db = args.db or f"sqlite:///{tmp / 'bench.db'}"
    policy = load_scenario("reference")
    ledger = tmp / "ledger.parquet"
    writer = LedgerWriter(ledger, compile_policy(policy))
    run = simulate(policy, population=args.persons, days=DAYS, seed=1, ledger=writer)
    writer.close()
    upgrade(db)
    t = time.perf_counter()
    n = ingest_ledger(ledger, db, Rules(policy), START)
    ingest_s = time.perf_counter() - t
    print(f"database: {db.split('://')[0]}; {args.persons:,} persons,"
          f" {run.population.n_companies:,} companies, {n:,} records")
    print(f"ingest: {n / ingest_s:,.0f} records/s ({ingest_s:.1f} s)")

    token = create_token(make_engine(db), "gatekeeper", service="flight")
    port = free_port()
    last = START + timedelta(days=DAYS - 1)
    proc = subprocess.Popen(
        [sys.executable, "-m", "socialcredit.cli", "serve", "--policy", "reference", "--db", db,
         "--port", str(port), "--today", last.isoformat(), "--workers", str(args.workers)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                httpx.get(f"{base}/v1/health", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.2)
        h = {"Authorization": f"Bearer {token}"}
        table = pq.read_table(ledger, columns=["subject_type", "subject"])
        known = set(pc.filter(table["subject"], pc.equal(table["subject_type"],
                                                         "person")).to_pylist())
        adults = sorted(known)  # persons with at least one record exist in the database
        per_thread = args.checks // 8

        def client(k: int) -> list[float]:
            lat = []
            with httpx.Client(base_url=base, headers=h, timeout=30) as c:
                for j in range(per_thread):
                    subject = f"p{adults[(k * per_thread + j) * 7919 % len(adults)]}"
                    t0 = time.perf_counter()
                    r = c.post("/v1/checks", json={"subject": subject, "service": "flight"})
                    lat.append(time.perf_counter() - t0)
                    assert r.status_code in (200, 404), r.text
            return lat

        # cold pass: every adult once, in batches; stores each subject's state
        t = time.perf_counter()
        with httpx.Client(base_url=base, headers=h, timeout=600) as c:
            for k in range(0, len(adults), 5000):
                part = [{"subject": f"p{i}", "service": "flight"} for i in adults[k:k + 5000]]
                assert c.post("/v1/checks", json=part).status_code == 200
        cold = time.perf_counter() - t
        print(f"batch checks, cold (states computed from records and stored):"
              f" {len(adults) / cold:,.0f} subjects/s over {len(adults):,} subjects")
        client(0)  # warm-up
        t = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            lats = [x for xs in pool.map(client, range(8)) for x in xs]
        wall = time.perf_counter() - t
        lats.sort()
        p99 = lats[int(0.99 * len(lats)) - 1]
        print(f"single checks, warm (8 client threads, {len(lats):,} requests):"
              f" {len(lats) / wall:,.0f}/s, median {statistics.median(lats) * 1000:.2f} ms,"
              f" p99 {p99 * 1000:.2f} ms")
        batch = [{"subject": f"p{adults[i * 104729 % len(adults)]}", "service": "flight"}
                 for i in range(1000)]
        with httpx.Client(base_url=base, headers=h, timeout=300) as c:
            c.post("/v1/checks", json=batch[:10])
            t = time.perf_counter()
            rounds = 3
            for _ in range(rounds):
                r = c.post("/v1/checks", json=batch)
                assert r.status_code == 200, r.text[:300]
            wall = time.perf_counter() - t
        print(f"batch checks, warm (1,000 subjects per request):"
              f" {rounds * 1000 / wall:,.0f} subjects/s")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # uvicorn would finish in-flight work first
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
