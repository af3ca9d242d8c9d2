#!/usr/bin/env python3
"""`make bench-slowlink`: the dashboard and a partner's project status over a
Pacific satellite link (600 ms RTT, 1 Mbit/s down, 256 kbit/s up, 1% loss),
in headless Chromium, and a POST whose answer is lost, retried with its
Idempotency-Key. Writes the "Slow link" section of BENCHMARKS.md.

The link. The service runs in its own network namespace; Chromium, chromedriver
and this script stay in the root one. The two sides are joined by a pair of
TUN devices and this script moves every IP packet between them, as `tc netem`
would on a veth pair: 300 ms each way, each direction serialised at its rate,
1% of packets dropped at random (seeded), at most 1000 packets queued. Why
not netem itself: this machine's kernel has no `sch_netem` ("Specified qdisc
kind is unknown") and no modules to load, so a veth pair could not be slowed.
Both ends still run real TCP (handshakes, slow start, retransmission after a
loss), which is what a partner on the link feels.

Needs root (namespaces, TUN), `chromium` and `chromium-driver` (Debian).
Environment: RUNS (default 5 per figure), SEED (default 1).
"""
import fcntl
import heapq
import json
import os
import random
import selectors
import shutil
import socket
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from datetime import datetime, timezone

BIN = "target/release/climate-tracker"
NETNS = "ctsl-srv"
CLIENT_IF, SERVER_IF = "ctsl-c", "ctsl-s"
CLIENT_IP, SERVER_IP, PORT = "10.77.0.2", "10.77.0.1", 8080
BASE = f"http://{SERVER_IP}:{PORT}"
ADMIN = "ctk_slowlink-admin-secret"
RUNS = int(os.environ.get("RUNS", "5"))
SEED = int(os.environ.get("SEED", "1"))
ONE_WAY_S, DOWN_BPS, UP_BPS, LOSS, QUEUE = 0.300, 1_000_000, 256_000, 0.01, 1000
WAIT_S = 120


def sh(*cmd, ns=None, check=True):
    full = (["ip", "netns", "exec", ns] if ns else []) + list(cmd)
    return subprocess.run(full, check=check, text=True, capture_output=True)


# ---------------------------------------------------------------- the link


def tun(name):
    """A TUN device (IP packets, no extra header) and its file descriptor."""
    TUNSETIFF, IFF_TUN, IFF_NO_PI = 0x400454CA, 0x0001, 0x1000
    fd = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI))
    return fd


class Direction:
    def __init__(self, out_fd, bps):
        self.out_fd, self.bps = out_fd, bps
        self.free_at = 0.0  # when the serialiser is next idle
        self.queued = 0
        self.bytes = self.packets = self.dropped = 0
        self.cut = False  # drop everything (a link that went down)


class Link(threading.Thread):
    """Moves packets between two TUN devices with delay, rate and loss."""

    def __init__(self, client_fd, server_fd):
        super().__init__(daemon=True)
        self.up = Direction(server_fd, UP_BPS)  # client -> service
        self.down = Direction(client_fd, DOWN_BPS)  # service -> client
        self.by_fd = {client_fd: self.up, server_fd: self.down}
        self.rng = random.Random(SEED)
        self.stopped = False
        self.lock = threading.Lock()

    def counters(self):
        with self.lock:
            return {"down": self.down.bytes, "up": self.up.bytes, "lost": self.down.dropped + self.up.dropped}

    def run(self):
        sel = selectors.DefaultSelector()
        for fd in self.by_fd:
            sel.register(fd, selectors.EVENT_READ)
        pending, seq = [], 0
        while not self.stopped:
            now = time.monotonic()
            timeout = min(0.05, max(0.0, pending[0][0] - now)) if pending else 0.05
            for key, _ in sel.select(timeout):
                d = self.by_fd[key.fd]
                while True:
                    try:
                        packet = os.read(key.fd, 65535)
                    except BlockingIOError:
                        break
                    now = time.monotonic()
                    with self.lock:
                        d.packets += 1
                        if d.cut or d.queued >= QUEUE or self.rng.random() < LOSS:
                            d.dropped += 1
                            continue
                        d.free_at = max(now, d.free_at) + len(packet) * 8 / d.bps
                        d.queued += 1
                        d.bytes += len(packet)
                    seq += 1
                    heapq.heappush(pending, (d.free_at + ONE_WAY_S, seq, d, packet))
            now = time.monotonic()
            while pending and pending[0][0] <= now:
                _, _, d, packet = heapq.heappop(pending)
                with self.lock:
                    d.queued -= 1
                try:
                    os.write(d.out_fd, packet)
                except OSError:
                    pass  # the far side is down; the packet is lost as on a real link


def link_up():
    sh("ip", "netns", "del", NETNS, check=False)
    sh("ip", "netns", "add", NETNS)
    client_fd, server_fd = tun(CLIENT_IF), tun(SERVER_IF)
    sh("ip", "link", "set", SERVER_IF, "netns", NETNS)
    sh("ip", "addr", "add", f"{CLIENT_IP}/32", "peer", f"{SERVER_IP}/32", "dev", CLIENT_IF)
    sh("ip", "link", "set", CLIENT_IF, "up")
    sh("ip", "addr", "add", f"{SERVER_IP}/32", "peer", f"{CLIENT_IP}/32", "dev", SERVER_IF, ns=NETNS)
    sh("ip", "link", "set", SERVER_IF, "up", ns=NETNS)
    sh("ip", "link", "set", "lo", "up", ns=NETNS)
    link = Link(client_fd, server_fd)
    link.start()
    return link


# ---------------------------------------------------------------- the service


def api(path, token=ADMIN, method="GET", body=None, headers=None, timeout=30):
    req = urllib.request.Request(f"{BASE}/api/v1{path}", method=method)
    req.add_header("Authorization", f"Bearer {token}")
    for k, v in (headers or {}).items():
        req.add_header(k, v)
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        req.add_header("Content-Type", "application/json")
    with urllib.request.urlopen(req, data, timeout=timeout) as r:
        return r.status, r.headers, json.loads(r.read() or b"null")


def start_service(workdir):
    db = f"sqlite://{workdir}/slowlink.db?mode=rwc"
    env = dict(os.environ, CLIMATE_TRACKER_DATABASE_URL=db, RUST_LOG="warn")
    subprocess.run([BIN, "seed", "demo"], env=env, check=True, capture_output=True)
    viewer = subprocess.run(
        [BIN, "token", "create", "--name", "slowlink viewer", "--role", "viewer"],
        env=env, check=True, capture_output=True, text=True,
    ).stdout.strip()
    env["CLIMATE_TRACKER_ADMIN_TOKEN"] = ADMIN
    service = subprocess.Popen(
        ["ip", "netns", "exec", NETNS, BIN, "serve", "--bind", f"{SERVER_IP}:{PORT}"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + WAIT_S
    while True:
        try:
            with urllib.request.urlopen(f"{BASE}/healthz", timeout=10) as r:
                if r.status == 200:
                    break
        except (urllib.error.URLError, OSError):
            pass
        if service.poll() is not None or time.time() > deadline:
            raise SystemExit("the service did not start in its namespace")
        time.sleep(0.5)
    _, _, found = api("/institutions?q=Betio")
    betio = found["items"][0]["id"]
    partner = subprocess.run(
        [BIN, "token", "create", "--name", "slowlink partner", "--role", "partner", "--institution", betio],
        env=env, check=True, capture_output=True, text=True,
    ).stdout.strip()
    _, _, own = api(f"/projects?institution_id={betio}&limit=1")
    return service, viewer, partner, own["items"][0]["id"]


# ---------------------------------------------------------------- the browser (WebDriver over HTTP)


class Browser:
    def __init__(self, driver_url, chromium, profile):
        self.url = driver_url
        args = [
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-dev-shm-usage", "--lang=en-US", f"--user-data-dir={profile}",
        ]
        caps = {"capabilities": {"alwaysMatch": {"goog:chromeOptions": {"binary": chromium, "args": args}}}}
        self.session = self.call("POST", "/session", caps)["sessionId"]
        self.call("POST", f"/session/{self.session}/timeouts", {"script": WAIT_S * 1000, "pageLoad": WAIT_S * 1000})

    def call(self, method, path, body=None):
        req = urllib.request.Request(self.url + path, method=method, data=json.dumps(body or {}).encode())
        req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=WAIT_S + 30) as r:
            return json.loads(r.read())["value"]

    def goto(self, url):
        self.call("POST", f"/session/{self.session}/url", {"url": url})

    def refresh(self):
        self.call("POST", f"/session/{self.session}/refresh", {})

    def run(self, script, *args):
        """An async script: its last argument is the callback."""
        return self.call("POST", f"/session/{self.session}/execute/async", {"script": script, "args": list(args)})

    def close(self):
        try:
            self.call("DELETE", f"/session/{self.session}")
        except Exception:
            pass


# Signs in through the form if it is shown (the token is typed at once),
# then waits for the view's ready mark and reports the page's own timings.
MEASURE = """
const [token, view, done] = arguments;
const form = document.querySelector('#login');
let submittedAt = null;
if (token && form && !form.hidden) {
  document.querySelector('#token').value = token;
  submittedAt = performance.now();
  form.requestSubmit();
}
const started = performance.now();
(function wait() {
  const mark = performance.getEntriesByName('ready:' + view).pop();
  if (mark) {
    const entries = performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'));
    done({
      ready_ms: mark.startTime,
      submitted_ms: submittedAt,
      transfer_bytes: entries.reduce((n, e) => n + (e.transferSize || 0), 0),
      api_requests: performance.getEntriesByType('resource').filter((e) => new URL(e.name).pathname.startsWith('/api/')).length,
      requests: entries.length,
      timeline: entries.map((e) => [new URL(e.name).pathname + new URL(e.name).search, Math.round(e.startTime),
        Math.round(e.connectEnd - e.connectStart), Math.round(e.requestStart), Math.round(e.responseStart),
        Math.round(e.responseEnd), e.transferSize]),
    });
  } else if (performance.now() - started > %d) {
    done({error: 'no ready:' + view + ' mark; body.dataset.ready=' + document.body.dataset.ready});
  } else {
    setTimeout(wait, 10);
  }
})();
""" % (WAIT_S * 1000)


def measure(browser, link, token, view, load):
    before = link.counters()
    load()
    result = browser.run(MEASURE, token, view)
    after = link.counters()
    if "error" in result:
        raise SystemExit(result["error"])
    result["link_down_bytes"] = after["down"] - before["down"]
    result["link_up_bytes"] = after["up"] - before["up"]
    return result


def browse(link, chromium, driver, viewer, partner, project):
    port = free_port()
    driver_proc = subprocess.Popen([driver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    driver_url = f"http://127.0.0.1:{port}"
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(driver_url + "/status", timeout=2)
            break
        except (urllib.error.URLError, OSError):
            if time.time() > deadline:
                raise SystemExit("chromedriver did not start")
            time.sleep(0.2)
    figures = {k: [] for k in ["dashboard_cold", "dashboard_warm", "status_cold", "status_warm"]}
    try:
        for _ in range(RUNS):
            # Cold: a new profile (empty cache, no connection), the token typed into the form.
            with tempfile.TemporaryDirectory() as profile:
                b = Browser(driver_url, chromium, profile)
                try:
                    figures["dashboard_cold"].append(measure(b, link, viewer, "dashboard", lambda: b.goto(BASE + "/")))
                    # Warm: the same tab reloaded (token in sessionStorage, assets cached).
                    figures["dashboard_warm"].append(measure(b, link, None, "dashboard", b.refresh))
                finally:
                    b.close()
            with tempfile.TemporaryDirectory() as profile:
                b = Browser(driver_url, chromium, profile)
                try:
                    url = f"{BASE}/#/projects/{project}"
                    figures["status_cold"].append(measure(b, link, partner, "status", lambda: b.goto(url)))
                    figures["status_warm"].append(measure(b, link, None, "status", b.refresh))
                finally:
                    b.close()
    finally:
        driver_proc.kill()
        driver_proc.wait()
    return figures


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- a POST whose answer is lost


def lost_answer(link):
    """Sends a POST, cuts the link towards the client once the request is
    through, gives up after a timeout, restores the link and retries with the
    same Idempotency-Key: the institution must exist exactly once."""
    code = f"slowlink-{uuid.uuid4().hex[:8]}"
    body = {"code": code, "name": {"en": f"College {code}"}, "kind": "vocational_college", "country": "KI"}
    key = str(uuid.uuid4())
    payload = json.dumps(body).encode()
    request = (
        f"POST /api/v1/institutions HTTP/1.1\r\nHost: {SERVER_IP}:{PORT}\r\n"
        f"Authorization: Bearer {ADMIN}\r\nContent-Type: application/json\r\n"
        f"Idempotency-Key: {key}\r\nContent-Length: {len(payload)}\r\nConnection: close\r\n\r\n"
    ).encode() + payload
    first = socket.create_connection((SERVER_IP, PORT), timeout=30)
    # The connection is open; the link towards the client goes down as the
    # request leaves, so the service gets it (and answers) but the answer is lost.
    link.down.cut = True
    first.sendall(request)
    first.settimeout(3 * (2 * ONE_WAY_S) + len(request) * 8 / UP_BPS + 2)
    try:
        answered = first.recv(65536)
    except socket.timeout:
        answered = b""
    first.close()
    link.down.cut = False
    started = time.monotonic()
    attempts = 0
    while True:
        attempts += 1
        try:
            status, headers, created = api("/institutions", method="POST", body=body, headers={"Idempotency-Key": key}, timeout=60)
            break
        except urllib.error.HTTPError as e:
            if e.code != 409 or attempts > 10:  # 409: the first attempt is still running
                raise
            time.sleep(1)
    retry_s = time.monotonic() - started
    _, _, found = api(f"/institutions?q={code}")
    return {
        "first_answer_lost": answered == b"",
        "retry_status": status,
        "replayed": headers.get("Idempotent-Replayed") == "true",
        "retry_seconds": retry_s,
        "attempts": attempts,
        "institutions_with_code": sum(1 for i in found["items"] if i["code"] == code),
        "first_answer": answered[:200].decode(errors="replace"),
        "created_id": created["id"],
    }


# ---------------------------------------------------------------- report


def row(name, runs, target=None):
    ready = [r["ready_ms"] / 1000 for r in runs]
    down = [r["link_down_bytes"] / 1000 for r in runs]
    transfer = [r["transfer_bytes"] / 1000 for r in runs]
    return (
        f"| {name} | {statistics.median(ready):.2f} | {min(ready):.2f}–{max(ready):.2f} | "
        f"{statistics.median(down):.1f} | {statistics.median(transfer):.1f} | "
        f"{runs[0]['api_requests']} | {target or ''} |"
    )


def write(figures, cut, lost_packets):
    started = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## Slow link (`make bench-slowlink`)",
        "",
        f"Run at {started}. The service (`seed demo`, SQLite) in a network namespace; headless Chromium "
        "outside it; between them a user-space link emulator on two TUN devices (bench/slowlink.py says "
        "why not `tc netem`: this kernel has no netem): 300 ms each way (600 ms RTT), 1 Mbit/s down, "
        f"256 kbit/s up, 1% loss each way (seed {SEED}), 1000-packet queues. {RUNS} runs per row; "
        f"{lost_packets} packets were dropped in all.",
        "",
        "Time is from the start of navigation to the view's ready mark (`performance.mark('ready:…')`, "
        "set when every panel has drawn). Cold: a new browser profile (empty cache, no open connection), "
        "the token typed into the sign-in form as soon as it shows. Warm: the same tab reloaded (the token "
        "kept in sessionStorage; hashed assets from the cache without a request, the page revalidated "
        "with its ETag). Link KB: IP bytes the emulator carried towards the browser (headers, "
        "retransmissions and TCP acknowledgements included); browser KB: the page's own `transferSize` sum. "
        "The stderr of the run has each run's resource timeline; a slow run is one where a lost packet "
        "waited for TCP's retransmission timeout (1 s or more at this RTT).",
        "",
        "| view | median s | range s | link KB down | browser KB | API requests | target |",
        "| --- | ---: | ---: | ---: | ---: | ---: | --- |",
        row("dashboard, cold", figures["dashboard_cold"], "< 4 s; < 60 KB"),
        row("dashboard, warm", figures["dashboard_warm"], "< 1.5 s"),
        row("partner's project status, cold", figures["status_cold"]),
        row("partner's project status, warm", figures["status_warm"], "< 2 s"),
        "",
        f"A POST whose answer is lost: `POST /institutions` with an Idempotency-Key; once the request "
        f"left, the link towards the client went down, and the client gave up waiting "
        f"(answer lost: {cut['first_answer_lost']}). Retried with the same key after the link came back: "
        f"{cut['retry_status']} with `Idempotent-Replayed: {str(cut['replayed']).lower()}` in "
        f"{cut['retry_seconds']:.2f} s ({cut['attempts']} attempt(s)); institutions with that code "
        f"afterwards: {cut['institutions_with_code']}.",
        "",
        "Command: `make bench-slowlink` (root; RUNS and SEED in the environment).",
        "",
    ]
    section = "\n".join(lines)
    path = "BENCHMARKS.md"
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n\n"
    start = text.find("## Slow link")
    if start >= 0:
        end = text.find("\n## ", start + 1)
        text = text[:start] + section + (text[end + 1:] if end >= 0 else "")
    else:
        # Below bench.py's marker, which `make bench` keeps when it rewrites the top.
        marker = "<!-- notes: kept by bench.py -->\n"
        at = text.find(marker)
        text = text[: at + len(marker)] + "\n" + section + text[at + len(marker):] if at >= 0 else text + "\n" + section
    open(path, "w").write(text)
    print(section)


def main():
    if os.geteuid() != 0:
        raise SystemExit("bench-slowlink needs root (network namespaces and TUN devices)")
    chromium = shutil.which("chromium") and "/usr/lib/chromium/chromium"
    driver = shutil.which("chromedriver")
    if not chromium or not os.path.exists(chromium) or not driver:
        raise SystemExit("needs chromium and chromium-driver (apt-get install chromium chromium-driver)")
    link = link_up()
    service = None
    workdir = tempfile.mkdtemp(prefix="climate-tracker-slowlink-")
    try:
        service, viewer, partner, project = start_service(workdir)
        figures = browse(link, chromium, driver, viewer, partner, project)
        cut = lost_answer(link)
        counters = link.counters()
        for name, runs in figures.items():
            print(name, json.dumps(runs), file=sys.stderr)
        write(figures, cut, counters["lost"])
        ok = cut["institutions_with_code"] == 1 and cut["replayed"]
        if not ok:
            raise SystemExit(f"the retried POST did not take effect exactly once: {cut}")
    finally:
        if service:
            service.terminate()
            service.wait()
        link.stopped = True
        sh("ip", "netns", "del", NETNS, check=False)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
