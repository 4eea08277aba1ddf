"""Single-member POST /v1/evaluate against a real `unclaimed serve` on loopback at
concurrency 1, 8 and 32: requests/s, p50/p99 latency, and the server's RSS before and
after the requests (memory flat over many requests: raise --requests).

    .venv/bin/python benchmarks/bench_serve.py [--requests 2000] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import sys
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.serve.conftest import copy_policies, start, stop  # noqa: E402


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def run(url: str, body: bytes, concurrency: int, count: int, seconds: float
        ) -> tuple[int, float, list[float]]:
    latencies: list[float] = []
    lock = threading.Lock()
    left = [count]
    stop_at = time.monotonic() + seconds

    def worker() -> None:
        # TCP_NODELAY: httpx writes headers and body apart; with Nagle's algorithm the
        # body would wait for the delayed ACK of the headers (40 ms on Linux)
        nodelay = httpx.HTTPTransport(socket_options=[
            (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)])
        with httpx.Client(base_url=url, timeout=30, transport=nodelay) as c:
            while True:
                with lock:
                    if left[0] <= 0 or time.monotonic() > stop_at:
                        return
                    left[0] -= 1
                t = time.perf_counter()
                r = c.post("/v1/evaluate", content=body,
                           headers={"content-type": "application/json"})
                dt = time.perf_counter() - t
                if r.status_code != 200:
                    raise SystemExit(f"HTTP {r.status_code}: {r.text[:200]}")
                with lock:
                    latencies.append(dt)

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return len(latencies), time.perf_counter() - t0, latencies


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--requests", type=int, default=2000, help="per concurrency level")
    ap.add_argument("--seconds", type=float, default=20.0, help="per concurrency level")
    ap.add_argument("--workers", type=int, default=1)
    args = ap.parse_args()
    facts = json.loads((REPO / "examples/members.json").read_text())
    one = {"fx_rates": facts["fx_rates"], "members": [facts["members"][0]]}
    body = json.dumps({"policy": "fsra-2024-001", "facts": one,
                       "as_of": "2026-11-21"}).encode()
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        server = start(copy_policies(Path(tmp)), "--workers", str(args.workers))
        try:
            pid = server.process.pid
            run(server.url, body, 1, 50, 10)  # warm-up: the policy loaded and cached
            before = rss_kib(pid)
            print(f"server pid {pid}, workers {args.workers}, RSS after warm-up "
                  f"{before / 1024:.1f} MiB")
            for conc in (1, 8, 32):
                n, wall, lat = run(server.url, body, conc, args.requests, args.seconds)
                lat.sort()
                p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
                print(f"concurrency {conc:>2}: {n:>6} requests in {wall:5.1f} s = "
                      f"{n / wall:7.0f} req/s, p50 {statistics.median(lat) * 1000:6.2f} ms, "
                      f"p99 {p99 * 1000:6.2f} ms, RSS {rss_kib(pid) / 1024:.1f} MiB")
            print(f"RSS before {before / 1024:.1f} MiB, after {rss_kib(pid) / 1024:.1f} MiB")
        finally:
            stop(server)


if __name__ == "__main__":
    main()
