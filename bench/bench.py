#!/usr/bin/env python3
"""`make bench`: load synthetic data, start the release binary and the bench-only
reference handler, drive both with wrk on SQLite and PostgreSQL, and write
BENCHMARKS.md.

Environment: SCALE (default 10), DURATION (wrk seconds per endpoint, default 10),
BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres),
BACKENDS (default "sqlite postgres").
"""
import base64
import json
import os
import platform
import re
import subprocess
import sys
import time
import urllib.request

SCALE = int(os.environ.get("SCALE", "10"))
DURATION = int(os.environ.get("DURATION", "10"))
BACKENDS = os.environ.get("BACKENDS", "sqlite postgres").split()
PG = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
BIN = "target/release/climate-tracker"
REF = "target/release/bench_reference"
ADMIN = "bench-admin-secret"
PORT, REF_PORT = 18080, 18081
CONNECTIONS = 64


def sh(cmd, **kw):
    return subprocess.run(cmd, check=True, text=True, capture_output=True, **kw)


def api(path, method="GET", body=None, port=PORT):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method=method)
    req.add_header("Authorization", f"Bearer {ADMIN}")
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, data, timeout=30) as r:
        return json.loads(r.read() or b"null")


def rss_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def wait_ready(port):
    for _ in range(600):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return
        except Exception:
            time.sleep(0.1)
    raise SystemExit(f"server on {port} did not start")


def to_ms(value, unit):
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url, connections=CONNECTIONS, threads=2, duration=DURATION, script=None):
    cmd = ["wrk", "--latency", f"-c{connections}", f"-t{threads}", f"-d{duration}s",
           "-H", f"Authorization: Bearer {ADMIN}"]
    if script:
        cmd += ["-s", script]
    out = sh(cmd + [url]).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    pct = {p: to_ms(v, u) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)", out, re.M)}
    errors = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    socket = re.search(r"Socket errors:.*", out)
    return {"rps": rps, "p50": pct.get("50"), "p99": pct.get("99"),
            "errors": int(errors.group(1)) if errors else 0, "socket": socket.group(0) if socket else ""}


def database(backend):
    if backend == "sqlite":
        os.makedirs("target/bench", exist_ok=True)
        path = f"target/bench/synthetic-{SCALE}.db"
        return f"sqlite://{path}?mode=rwc", os.path.exists(path)
    name = f"ct_bench_{SCALE}"
    admin_db = PG.rsplit("/", 1)[0]
    exists = sh(["psql", PG, "-Atc", f"select 1 from pg_database where datname='{name}'"]).stdout.strip() == "1"
    if not exists:
        sh(["psql", PG, "-c", f"CREATE DATABASE {name}"])
    return f"{admin_db}/{name}", exists


def bench_backend(backend):
    url, exists = database(backend)
    seed_seconds = None
    if not exists:
        t = time.time()
        subprocess.run([BIN, "--database-url", url, "seed", "synthetic", "--scale", str(SCALE)], check=True)
        seed_seconds = time.time() - t
    env = dict(os.environ, CLIMATE_TRACKER_DATABASE_URL=url, CLIMATE_TRACKER_ADMIN_TOKEN=ADMIN, RUST_LOG="warn")
    server = subprocess.Popen([BIN, "serve", "--bind", f"127.0.0.1:{PORT}"], env=env, stderr=subprocess.DEVNULL)
    ref = subprocess.Popen([REF, url, f"127.0.0.1:{REF_PORT}"], stderr=subprocess.DEVNULL)
    try:
        wait_ready(PORT)
        time.sleep(2)
        idle = rss_kib(server.pid, "VmRSS")
        project = api("/api/v1/projects?status=active&limit=1")["items"][0]["id"]
        base = f"http://127.0.0.1:{PORT}/api/v1"

        # A grant with room for many small payments.
        fund = api("/api/v1/funds?q=synthetic")["items"][0]["id"]
        recipient = api(f"/api/v1/projects/{project}/participants")["items"][0]["institution_id"]
        grant = api("/api/v1/grants", "POST", {"fund_id": fund, "project_id": project, "recipient_institution_id": recipient,
                                               "title": {"en": "bench"}, "amount": {"amount": "100000.00", "currency": "CNY"}})["id"]
        for to in ("submitted", "approved"):
            api(f"/api/v1/grants/{grant}/transitions", "POST", {"to": to})
        with open("target/bench/disburse.lua", "w") as f:
            f.write('wrk.method = "POST"\n'
                    'wrk.body = \'{"amount":{"amount":"0.01","currency":"CNY"},"paid_on":"2025-03-01"}\'\n'
                    'wrk.headers["Content-Type"] = "application/json"\n')

        # The cursor of page 2,000 (50 a page), or of the last page at small scales.
        total_projects = SCALE * 10_000
        page = min(2000, total_projects // 50 - 1)
        cursor, walked = None, 0
        while walked < (page - 1) * 50:
            q = f"/api/v1/projects?limit=200" + (f"&cursor={cursor}" if cursor else "")
            step = min(200, (page - 1) * 50 - walked)
            q = q.replace("limit=200", f"limit={step}")
            cursor = api(q)["next_cursor"]
            walked += step

        rows = []
        ref_get = wrk(f"http://127.0.0.1:{REF_PORT}/projects/{project}")
        rows.append(("reference handler: primary-key SELECT, no auth", ref_get))
        cases = [
            ("GET /projects/{id}", f"{base}/projects/{project}", None),
            ("GET /projects/{id}/status", f"{base}/projects/{project}/status", None),
            ("GET /projects?status=active&limit=50", f"{base}/projects?status=active&limit=50", None),
            ("GET /projects?limit=50 (page 1)", f"{base}/projects?limit=50", None),
            (f"GET /projects?limit=50 (page {page})", f"{base}/projects?limit=50&cursor={cursor}", None),
            ("GET /dashboard/summary", f"{base}/dashboard/summary", None),
            ("GET /dashboard/breakdown?by=country", f"{base}/dashboard/breakdown?by=country", None),
            ("POST /grants/{id}/disbursements", f"{base}/grants/{grant}/disbursements", "target/bench/disburse.lua"),
        ]
        for name, u, script in cases:
            rows.append((name, wrk(u, script=script)))
        single = {name: wrk(u, connections=1, threads=1, duration=max(3, DURATION // 2))
                  for name, u in [("GET /dashboard/summary", f"{base}/dashboard/summary"),
                                  ("GET /dashboard/breakdown?by=country", f"{base}/dashboard/breakdown?by=country")]}
        peak = rss_kib(server.pid, "VmHWM")
        summary = api(f"/api/v1/funds/{fund}/summary")
    finally:
        server.terminate()
        ref.terminate()
        server.wait()
        ref.wait()
    # The disbursements above ran 64 at a time; the dashboards' tallies must still equal a fresh count.
    check = subprocess.run([BIN, "--database-url", url, "tallies", "check"], text=True, capture_output=True)
    return {"backend": backend, "rows": rows, "single": single, "idle_kib": idle, "peak_kib": peak,
            "seed_seconds": seed_seconds, "page": page, "ref_rps": ref_get["rps"], "fund": summary,
            "tallies": "equal to a fresh count" if check.returncode == 0
            else f"OFF: {len(check.stdout.splitlines())} figures differ from a fresh count"}


def fmt_ms(v):
    return "n/a" if v is None else f"{v:.2f}"


def report(results):
    cpu = sh(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]).stdout.strip()
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (bench/bench.py); numbers are from the last run on this machine.",
        "",
        f"- Machine: {os.cpu_count()} cores, {cpu}, {platform.system()} {platform.release()}",
        f"- Data: `climate-tracker seed synthetic --scale {SCALE}` "
        f"({SCALE}k institutions, {SCALE * 10}k projects, {SCALE * 50}k milestones, {SCALE * 20}k grants, ~{SCALE * 64}k disbursements)",
        f"- Load: `wrk --latency -c{CONNECTIONS} -t2 -d{DURATION}s` per endpoint, authenticated as admin, release build; "
        "the reference handler runs at the same time against the same database",
        f"- Command: `SCALE={SCALE} DURATION={DURATION} make bench`",
        f"- Run at: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        "",
    ]
    for r in results:
        lines += [f"## {r['backend']}", ""]
        if r["seed_seconds"]:
            lines += [f"Seeding scale {SCALE} took {r['seed_seconds']:.0f} s.", ""]
        lines += ["| endpoint | req/s | p50 ms | p99 ms | non-2xx | ratio to reference |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
        for name, m in r["rows"]:
            ratio = m["rps"] / r["ref_rps"] if r["ref_rps"] else 0
            lines.append(f"| {name} | {m['rps']:.0f} | {fmt_ms(m['p50'])} | {fmt_ms(m['p99'])} | {m['errors']} | {ratio:.2f} |")
        rows = dict(r["rows"])
        p1 = rows["GET /projects?limit=50 (page 1)"]
        pn = rows[f"GET /projects?limit=50 (page {r['page']})"]
        lines += [
            "",
            "Single client (`-c1 -t1`): " + ", ".join(f"{k} p50 {fmt_ms(v['p50'])} ms" for k, v in r["single"].items()) + ".",
            "",
            f"Page {r['page']} vs page 1 of `/projects`: {pn['rps'] / p1['rps']:.2f}× the requests/s, "
            f"p50 {fmt_ms(pn['p50'])} vs {fmt_ms(p1['p50'])} ms.",
            "",
            f"Memory (RSS): idle {r['idle_kib'] / 1024:.1f} MiB, peak under load {r['peak_kib'] / 1024:.1f} MiB.",
            "",
            f"Dashboard tallies after the run (`climate-tracker tallies check`): {r['tallies']}.",
            "",
        ]
    # Hand-written analysis below the marker survives a new run.
    marker = "<!-- notes: kept by bench.py -->"
    notes = ""
    if os.path.exists("BENCHMARKS.md"):
        with open("BENCHMARKS.md") as f:
            old = f.read()
        if marker in old:
            notes = old[old.index(marker):]
    with open("BENCHMARKS.md", "w") as f:
        f.write("\n".join(lines) + "\n" + (notes or marker + "\n"))
    print("\n".join(lines))


def main():
    if subprocess.run(["sh", "-c", "command -v wrk"], capture_output=True).returncode != 0:
        sys.exit("wrk is missing: apt-get install -y wrk")
    results = [bench_backend(b) for b in BACKENDS]
    report(results)


if __name__ == "__main__":
    main()
