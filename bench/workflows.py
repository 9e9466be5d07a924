"""Workflows benchmarks: commit → card dispatched latency on Redis, and relay throughput.

    .venv/bin/python -m bench.workflows [--db sqlite|postgres] [--events 3000] [--requests 60]

Latency: a clerk's transfer request is committed in this process (the commit kicks the relay
through Redis); a real Celery worker relays ``transfer.requested`` → opens the approval →
relays ``approval.opened`` → sends the DingTalk card through the real SDK to a local stub.
The figure is stub arrival time minus commit time. Throughput: events committed in bulk, then
drained by ``relay_pending`` with every registered handler (rules, webhooks fan-out, log).
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from bench.common import (
    ROOT,
    drop_postgres_database,
    figure,
    fresh_migrated_postgres,
    fresh_migrated_sqlite,
    note,
    percentile,
)
from devstubs.dingtalk import install_dingtalk_token
from devstubs.dingtalk_cards import install_dingtalk_cards
from devstubs.server import StubRequest, StubServer
from models.db import make_engine, make_session_factory
from models.demo import seed_demo
from models.outbox import emit
from models.uow import run

REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/13")


def relay_throughput(url: str, events: int) -> float:
    import workflows.handlers  # noqa: F401  (every real handler)
    from workflows.relay import relay_pending

    factory = make_session_factory(make_engine(url))
    demo = run(factory, seed_demo, "bench-relay")
    with factory() as session:
        for n in range(events):
            emit(session, demo.org_id, "receipt.posted", {"number": f"RK-BENCH-{n}", "quantity": "1.5",
                                                          "site_id": demo.sites["SX"], "item_id": demo.items["茶青"]})
        session.commit()
    relay_pending(factory, limit=1)  # warm up (seeds nothing for receipt.posted)
    start = time.perf_counter()
    done = 0
    while True:
        n = relay_pending(factory, limit=500)
        if not n:
            break
        done += n
    return done / (time.perf_counter() - start)


def card_latency(url: str, requests_n: int, tmp: Path) -> tuple[list[float], int]:
    """Return (commit → card latencies in ms after the warm-up, requests whose card never came)."""
    from app.settings import Settings
    from models.operations import RequestTransfer, TransferLineIn, request_transfer
    from workflows.celery_app import create_celery
    from workflows.kick import celery_kick, install_relay_kick

    arrivals: dict[str, float] = {}
    with StubServer() as stub:
        install_dingtalk_token(stub)
        install_dingtalk_cards(stub)
        create_route = stub.routes[("POST", "/v1.0/card/instances/createAndDeliver")]

        def timed(req: StubRequest):  # type: ignore[no-untyped-def]
            arrivals.setdefault(req.json().get("outTrackId", ""), time.perf_counter())
            return create_route(req)

        stub.routes[("POST", "/v1.0/card/instances/createAndDeliver")] = timed
        env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": REDIS_URL, "LIUZHUAN_VAR_DIR": str(tmp),
               "DINGTALK_APP_KEY": "ding-test-key", "DINGTALK_APP_SECRET": "ding-test-secret",
               "DINGTALK_API_BASE": stub.base_url}
        import redis

        redis.Redis.from_url(REDIS_URL).flushdb()
        pool = os.environ.get("BENCH_POOL", "--concurrency=2")  # the Procfile's worker; "--pool=solo" to compare
        loglevel = os.environ.get("BENCH_WORKER_LOG", "WARNING")
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "workflows.worker", "worker", pool, "--without-gossip",
             "--without-mingle", "--without-heartbeat", f"--loglevel={loglevel}"],
            cwd=ROOT, env=env, start_new_session=True, stdout=sys.stderr)  # figures alone on stdout
        try:
            celery_app = create_celery(Settings.from_env(env))
            factory = make_session_factory(make_engine(url))
            install_relay_kick(factory, celery_kick(celery_app))
            demo = run(factory, seed_demo, "bench-cards")
            from models.actor import load_actor

            with factory() as session:
                clerk = load_actor(session, demo.members["小周"])
            time.sleep(4.0)  # worker start-up (the Procfile's worker: prefork, concurrency 2)
            latencies, missing = [], 0
            for n in range(requests_n):
                transfer = run(factory, request_transfer, clerk, RequestTransfer(
                    from_site_id=demo.sites["SX"], to_site_id=demo.sites["ZC"],
                    lines=(TransferLineIn(demo.items["茶青"], Decimal(1), "公斤"),), urgent=bool(n % 2)))
                committed = time.perf_counter()
                track = f"appr-transfer-{transfer.document_id}-L0"
                deadline = committed + 10
                while track not in arrivals and time.perf_counter() < deadline:
                    time.sleep(0.001)
                if track not in arrivals:
                    missing += 1
                elif n >= 3:  # the first requests pay for imports and the token fetch
                    latencies.append((arrivals[track] - committed) * 1000)
                time.sleep(0.1)  # requests arrive apart, as people tap; this measures latency, not load
            return latencies, missing
        finally:
            os.killpg(worker.pid, signal.SIGTERM)
            worker.wait(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--events", type=int, default=3000)
    parser.add_argument("--requests", type=int, default=60)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)

        def fresh(name: str) -> str:
            if args.db == "postgres":
                return fresh_migrated_postgres(f"liuzhuan_bench_{name}")
            return fresh_migrated_sqlite(tmp, f"{name}.db")

        note(f"relay throughput: {args.events} events on {args.db}")
        figure(f"relay_throughput_{args.db}", relay_throughput(fresh("relay"), args.events), "events/s")
        note(f"commit → card latency: {args.requests} transfer requests, Redis broker, {args.db}")
        latencies, missing = card_latency(fresh("cards"), args.requests, tmp)
        figure(f"card_latency_p50_{args.db}_redis", percentile(latencies, 50), "ms")
        figure(f"card_latency_p95_{args.db}_redis", percentile(latencies, 95), "ms")
        figure(f"card_latency_samples_{args.db}_redis", len(latencies), "")
        figure(f"card_latency_missing_{args.db}_redis", missing, "")
        if args.db == "postgres":
            drop_postgres_database("liuzhuan_bench_relay")
            drop_postgres_database("liuzhuan_bench_cards")


if __name__ == "__main__":
    main()
