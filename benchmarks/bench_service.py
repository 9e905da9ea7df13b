"""Speed of the service: ingest, single checks over HTTP, batch checks.

    python benchmarks/bench_service.py --persons 100000 [--db URL] [--keep DIR]

Builds the database from a simulated `reference` ledger (timing the ingest), starts
`socialcredit serve` on a free loopback port, then times a cold pass of batch checks
(every state computed and stored), single checks over HTTP (throughput and latency
percentiles, from `wrk` when it is installed: `make bench-tools`; else from Python
client threads, which cost more CPU than the server), and warm batch checks of 10,000
subjects: a pass from a Python client (states the process reads from the database for
the first time), then from `wrk` at 1 and 2 connections (states from its cache). `--keep
DIR` keeps the ledger and database there and reuses them next time.

Then, for the hardening issue: the latency of single checks while a recorder posts
batches of 10,000 records over the API (checks must not wait behind bulk writes), with
the same checks alone as the baseline; and the latency of public-list pages.

Targets (issue: service), with 1 M subjects and 30 M records in SQLite: single checks
p99 <= 5 ms and >= 2,000/s; batch checks >= 200,000 subjects/s; ingest >= 50,000
records/s. The same figures against PostgreSQL.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
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
from socialcredit.ledger import LedgerWriter, read_parts
from socialcredit.service import create_token, ingest_ledger, make_engine, upgrade
from socialcredit.service._changes import log_changes
from socialcredit.service._db import subject_states
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
    ap.add_argument("--checks", type=int, default=4000,
                    help="single checks per Python client pass (without wrk)")
    ap.add_argument("--seconds", type=int, default=10, help="length of each wrk run")
    ap.add_argument("--workers", type=int, default=1, help="uvicorn processes")
    ap.add_argument("--batch-clients", type=int, default=1,
                    help="client threads sending batch checks at once")
    ap.add_argument("--keep", type=Path, default=None,
                    help="keep the ledger and database in this folder; reuse them if there")
    args = ap.parse_args()
    tmp = args.keep or Path(tempfile.mkdtemp(prefix="sc-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    db = args.db or f"sqlite:///{tmp / 'bench.db'}"
    policy = load_scenario("reference")
    run = tmp / f"run-{args.persons}"
    ledger = run / "ledger"  # a dataset: a part per block of the society
    done = tmp / f"ingested-{args.persons}-{db.split('://')[0]}"
    if not ledger.exists():
        writer = LedgerWriter(run, compile_policy(policy), policy)
        simulate(policy, population=args.persons, days=DAYS, seed=1, ledger=writer,
                 subjects=False)
        writer.close()
    n = sum(pq.ParquetFile(part).metadata.num_rows for part in read_parts(ledger))
    if not done.exists():
        upgrade(db)
        t = time.perf_counter()
        ingest_ledger(ledger, db, Rules(policy), START)
        ingest_s = time.perf_counter() - t
        print(f"ingest: {n / ingest_s:,.0f} records/s ({ingest_s:.1f} s)")
        done.touch()
    else:
        print("ingest: reusing the database ingested before")
    print(f"database: {db.split('://')[0]}; {args.persons:,} persons, {n:,} records")

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
        with httpx.Client(base_url=base, headers=h, timeout=600) as c:
            c.post("/v1/checks", json=[{"subject": f"p{i}", "service": "flight"}
                                       for i in adults[:5000]])  # warm-up
        with make_engine(db).begin() as conn:  # so that the pass computes every state
            conn.execute(subject_states.delete())
            log_changes(conn, None)
        t = time.perf_counter()
        with httpx.Client(base_url=base, headers=h, timeout=600) as c:
            for k in range(0, len(adults), 5000):
                part = [{"subject": f"p{i}", "service": "flight"} for i in adults[k:k + 5000]]
                assert c.post("/v1/checks", json=part).status_code == 200
        cold = time.perf_counter() - t
        print(f"batch checks, cold (states computed from records and stored):"
              f" {len(adults) / cold:,.0f} subjects/s over {len(adults):,} subjects")
        if shutil.which("wrk"):
            ids = tmp / "subjects.txt"
            ids.write_text("".join(f"p{i}\n" for i in adults))
            for conns in (1, 4, 8):
                single_wrk(base, token, ids, conns, args.seconds)
        else:
            print("(wrk is not installed: `make bench-tools`; timing from Python threads)")
            client(0)  # warm-up
            t = time.perf_counter()
            with ThreadPoolExecutor(8) as pool:
                lats = [x for xs in pool.map(client, range(8)) for x in xs]
            wall = time.perf_counter() - t
            lats.sort()
            p99 = lats[int(0.99 * len(lats)) - 1]
            print(f"single checks, warm (8 Python client threads, {len(lats):,} requests):"
                  f" {len(lats) / wall:,.0f}/s, median {statistics.median(lats) * 1000:.2f}"
                  f" ms, p99 {p99 * 1000:.2f} ms")
        size, rounds = 10_000, 12
        # bodies encoded beforehand and answers not decoded: the client shares the CPUs
        batches = [json.dumps([{"subject": f"p{adults[(k * size + i) * 104729 % len(adults)]}",
                                "service": "flight"} for i in range(size)]).encode()
                   for k in range(rounds)]
        def send(share: list[bytes]) -> list[float]:
            walls = []
            with httpx.Client(base_url=base, timeout=300,
                              headers={**h, "Content-Type": "application/json"}) as c:
                for batch in share:
                    t = time.perf_counter()
                    r = c.post("/v1/checks", content=batch)
                    walls.append(time.perf_counter() - t)
                    assert r.status_code == 200, r.text[:300]
                    assert r.content.count(b'"subject"') == size
            return walls

        k = args.batch_clients
        shares = [batches[j::k] for j in range(k)]  # the same share per client each pass

        def python_pass(label: str) -> None:
            t = time.perf_counter()
            with ThreadPoolExecutor(k) as pool:
                walls = [w for ws in pool.map(send, shares) for w in ws]
            wall = time.perf_counter() - t
            print(f"batch checks, warm ({size:,} subjects per request, {rounds} requests from"
                  f" {k} Python client{'s' * (k > 1)}; {label}): {rounds * size / wall:,.0f}"
                  f" subjects/s; per request median {statistics.median(walls) * 1000:.0f} ms")

        python_pass("stored states, read from the database")
        during_ingest(base, h, make_engine(db), adults, last)
        public_pages(base, h)
        again = "the same subjects again, from the process's cache"
        if shutil.which("wrk"):
            bodies = [tmp / f"batch-{j}.json" for j in range(rounds)]
            for path, b in zip(bodies, batches, strict=True):
                path.write_bytes(b)
            for conns in (1, 2):
                batch_wrk(base, token, bodies, size, conns, args.seconds, again)
        else:
            python_pass(again)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # uvicorn would finish in-flight work first
        proc.wait(timeout=30)


def _percentiles(lats: list[float]) -> str:
    lats = sorted(lats)
    p99 = lats[max(0, int(0.99 * len(lats)) - 1)]
    return (f"median {statistics.median(lats) * 1000:.1f} ms, p99 {p99 * 1000:.1f} ms,"
            f" max {lats[-1] * 1000:.0f} ms over {len(lats):,}")


def during_ingest(base: str, h: dict, engine, adults: list[int], last: date,
                  batches: int = 5, size: int = 10_000) -> None:
    """Single checks from one client, alone and while another posts record batches."""
    recorder = {"Authorization": f"Bearer {create_token(engine, 'recorder')}"}
    stop = [False]

    def checks(seconds: float | None) -> list[float]:
        lat, k = [], 0
        t_end = time.perf_counter() + (seconds or 1e9)
        with httpx.Client(base_url=base, headers=h, timeout=60) as c:
            while not stop[0] and time.perf_counter() < t_end:
                subject = f"p{adults[k * 7919 % len(adults)]}"
                k += 1
                t0 = time.perf_counter()
                r = c.post("/v1/checks", json={"subject": subject, "service": "flight"})
                lat.append(time.perf_counter() - t0)
                assert r.status_code == 200, r.text
        return lat

    print(f"single checks alone (1 Python client): {_percentiles(checks(10))}")
    tag = int(time.time())
    def record(b: int, i: int) -> dict:
        return {"id": f"bench-{tag}-{b}-{i}", "kind": "volunteering", "channel": "registry",
                "subject": f"p{adults[(b * size + i) * 104729 % len(adults)]}",
                "occurred_at": last.isoformat()}

    bodies = [json.dumps({"records": [record(b, i) for i in range(size)]}).encode()
              for b in range(batches)]

    def ingest() -> list[float]:
        walls = []
        with httpx.Client(base_url=base, timeout=600,
                          headers={**recorder, "Content-Type": "application/json"}) as c:
            for body in bodies:
                t0 = time.perf_counter()
                r = c.post("/v1/records/batch", content=body)
                walls.append(time.perf_counter() - t0)
                assert r.status_code == 200, r.text[:300]
        stop[0] = True
        return walls

    with ThreadPoolExecutor(2) as pool:
        lat = pool.submit(checks, None)
        walls = pool.submit(ingest).result()
        lats = lat.result()
    print(f"record batches over the API ({batches} x {size:,}): median"
          f" {statistics.median(walls):.2f} s each, {batches * size / sum(walls):,.0f}"
          " records/s")
    print(f"single checks during those batches: {_percentiles(lats)}")


def public_pages(base: str, h: dict, n: int = 200) -> None:
    """Pages of the public list (read from stored states), from one client."""
    with httpx.Client(base_url=base, headers=h, timeout=60) as c:
        first = c.get("/v1/public/list", params={"per_page": 50}).json()
        pages = max(1, -(-first["total"] // 50))
        lat = []
        for k in range(n):
            t0 = time.perf_counter()
            r = c.get("/v1/public/list", params={"page": 1 + k * 7919 % pages, "per_page": 50})
            lat.append(time.perf_counter() - t0)
            assert r.status_code == 200, r.text[:300]
    print(f"public list, 50 per page ({first['total']:,} entries, {pages:,} pages):"
          f" {_percentiles(lat)}")


WRK_SCRIPT = """
local ids, n, token = {}, 0, ""
init = function(args)
  for line in io.lines(args[1]) do n = n + 1; ids[n] = line end
  token = args[2]
  math.randomseed(tonumber(args[3]))
end
request = function()
  return wrk.format("POST", "/v1/checks",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token},
    '{"subject":"' .. ids[math.random(n)] .. '","service":"flight"}')
end
"""


def run_wrk(base: str, script: Path, text: str, conns: int, seconds: int, args: list[str],
            warm_args: list[str] | None = None) -> tuple[float, dict[str, str], str]:
    """One wrk thread over `conns` keep-alive connections, after a 2 s warm-up (with
    `warm_args`, default `args`, for the script): the requests per second, the 50th and
    99th latency percentiles, and any trouble (non-2xx answers, socket errors)."""
    script.write_text(text)
    def wrk(*opts: str, script_args: list[str]) -> str:
        return subprocess.run(["wrk", "-t1", f"-c{conns}", *opts, "-s", str(script), base,
                               "--", *script_args], check=True, capture_output=True,
                              text=True).stdout

    wrk("-d2s", script_args=warm_args or args)
    out = wrk(f"-d{seconds}s", "--latency", script_args=args)
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    pct = {"50": "?", "99": "?", **dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))}
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: .*", out)
    trouble = ((f"; {bad.group(1)} non-2xx!" if bad else "")
               + (f"; {errors.group(0)}" if errors else ""))
    return rate, pct, trouble


def single_wrk(base: str, token: str, ids: Path, conns: int, seconds: int) -> None:
    """Single checks of random subjects, with wrk's latency percentiles."""
    rate, pct, trouble = run_wrk(base, ids.with_name("checks.lua"), WRK_SCRIPT, conns,
                                 seconds, [str(ids), token, "2"], [str(ids), token, "1"])
    print(f"single checks, warm (wrk, {conns} connection{'s' * (conns > 1)}):"
          f" {rate:,.0f}/s, median {pct['50']}, p99 {pct['99']}{trouble}")


BATCH_SCRIPT = """
local bodies, n, k, token = {}, 0, 0, ""
init = function(args)
  token = args[1]
  for i = 2, #args do
    local f = assert(io.open(args[i], "rb"))
    n = n + 1; bodies[n] = f:read("*a"); f:close()
  end
end
request = function()
  k = k % n + 1
  return wrk.format("POST", "/v1/checks",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token},
    bodies[k])
end
"""


def batch_wrk(base: str, token: str, bodies: list[Path], size: int, conns: int, seconds: int,
              label: str) -> None:
    """Batch checks cycling through the bodies (wrk is C, so the client takes little of
    the CPUs the server shares)."""
    rate, pct, trouble = run_wrk(base, bodies[0].with_name("batches.lua"), BATCH_SCRIPT,
                                 conns, seconds, [token, *map(str, bodies)])
    print(f"batch checks, warm ({size:,} subjects per request, wrk, {conns} connection"
          f"{'s' * (conns > 1)}; {label}): {rate * size:,.0f} subjects/s;"
          f" per request median {pct['50']}, p99 {pct['99']}{trouble}")

if __name__ == "__main__":
    main()
