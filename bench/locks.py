"""Locks held across slow work: a receipt's latency on SQLite, quiet and beside a forecast or the relay.

    .venv/bin/python -m bench.locks [--receipts 60] [--webhook-ms 200]

One clerk posts farmer receipts one after another (``receive_goods`` through ``models.uow.run``)
while, in another thread, nothing runs (quiet), forecasts run back to back, or the relay delivers
every receipt to a local webhook stub that answers after ``--webhook-ms``. Each busy phase runs
twice: as the code does it now (read / compute / write; HTTP outside any transaction) and in the
old shape, for comparison in the same run (the forecast inside one open write transaction; the
webhook POST inside the relay's transaction). Figures: p50/p95 ms per phase and p95 ÷ quiet p95.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import random
import tempfile
import time
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from bench.common import figure, fresh_migrated_sqlite, note, percentile
from devstubs.server import StubRequest, StubResponse, StubServer
from models.actor import Actor, load_actor
from models.db import make_engine, make_session_factory
from models.demand import local_date_today
from models.demo import DemoOrg, seed_demo
from models.operations import ReceiveGoods, receive_goods
from models.operations.planning import RunForecast, run_forecast
from models.planning import DemandImport, DemandKind, DemandRow, Granularity
from models.timeutil import week_start
from models.uow import run
from models.webhooks import WebhookSubscription

HISTORY_WEEKS = 104


def seed_history(factory: sessionmaker[Session], demo: DemoOrg) -> int:
    """Give every item × site two years of weekly sales, so a forecast has real work; return the series."""
    rng = random.Random(7)
    first = week_start(local_date_today()) - timedelta(weeks=HISTORY_WEEKS)
    with factory() as session:
        imp = DemandImport(org_id=demo.org_id, filename="bench.csv", content_hash="0" * 64,
                           granularity=Granularity.WEEK, rows_total=0, rows_imported=0, report={})
        session.add(imp)
        session.flush()
        n = 0
        for item_id in demo.items.values():
            for site_id in demo.sites.values():
                base = rng.uniform(5, 50)
                n += 1
                for w in range(HISTORY_WEEKS):
                    value = max(base * (1 + 0.3 * math.sin(2 * math.pi * w / 52)) + rng.gauss(0, base * 0.2), 0)
                    session.add(DemandRow(org_id=demo.org_id, import_id=imp.id, item_id=item_id, site_id=site_id,
                                          day=first + timedelta(weeks=w), granularity=Granularity.WEEK,
                                          quantity=Decimal(f"{value:.3f}"), kind=DemandKind.SALE))
        session.commit()
    return n


def receipt_latencies(factory: sessionmaker[Session], demo: DemoOrg, clerk: Actor, count: int,
                      seconds: float = 0.0) -> tuple[list[float], int]:
    """Post receipts one after another, at least ``count`` and for ``seconds``; return latencies (ms), failures."""
    out, failed = [], 0
    until = time.perf_counter() + seconds
    while len(out) < count or time.perf_counter() < until:
        start = time.perf_counter()
        try:
            run(factory, receive_goods, clerk, ReceiveGoods(
                site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal("1.5"), unit="公斤",
                party_id=demo.parties["王阿姨"], grade_id=demo.grades["二级"]))
        except OperationalError:  # "database is locked" past the busy timeout, three times
            failed += 1
        out.append((time.perf_counter() - start) * 1000)
        time.sleep(0.005)  # a clerk between two deliveries
    return out, failed


def background(kind: str, url: str, manager_id: int, hook_url: str, ready: Any, stop: Any, loops: Any) -> None:
    """In its own process (as a worker would be): run ``kind`` work in a loop until ``stop`` is set."""
    import workflows.handlers  # noqa: F401  (every real handler)
    from workflows.relay import HandlerRegistry, NetworkHandler, registry, relay_pending, retry_due

    netloc = hook_url.split("/")[2]
    os.environ["LIUZHUAN_WEBHOOK_ALLOW_HTTP"] = "1"
    os.environ["LIUZHUAN_WEBHOOK_ALLOW_HOSTS"] = netloc
    engine = make_engine(url)
    factory = make_session_factory(engine)
    with factory() as session:
        manager = load_actor(session, manager_id)
    inline = HandlerRegistry()  # the old shape: the POST inside the relay's transaction
    for event_kind, handlers in registry.handlers.items():
        for name, fn in handlers:
            plain = (lambda s, e, fn=fn: fn(s, e)) if isinstance(fn, NetworkHandler) else fn
            inline.register(event_kind, name)(plain)
    ready.set()
    while not stop.is_set():
        if kind == "forecast":
            run(factory, run_forecast, manager, RunForecast(horizon=8))
        elif kind == "forecast_in_one_transaction":  # the old shape: the write lock from first read to commit
            with factory() as session:
                session.connection()
                run_forecast(session, manager, RunForecast(horizon=8))
                session.commit()
        else:
            handlers = inline if kind == "relay_http_in_transaction" else registry
            if relay_pending(factory, limit=500, handlers=handlers) + retry_due(factory, handlers=handlers):
                loops.value += 1
                continue
        if kind.startswith("forecast"):
            loops.value += 1
        stop.wait(0.05)  # between two runs, or an idle relay waiting for the next receipt
    engine.dispose()


def report(name: str, values: list[float], failed: int, quiet_p95: float | None) -> float:
    p50, p95 = percentile(values, 50), percentile(values, 95)
    figure(f"{name}_p50", p50, "ms")
    figure(f"{name}_p95", p95, "ms")
    figure(f"{name}_max", max(values), "ms")
    if quiet_p95:
        figure(f"{name}_p95_ratio", p95 / quiet_p95, "x quiet", digits=2)
    figure(f"{name}_failed", failed, "receipts")
    return p95


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--receipts", type=int, default=60, help="at least this many receipts per phase")
    parser.add_argument("--seconds", type=float, default=8.0, help="and for at least this long")
    parser.add_argument("--webhook-ms", type=int, default=200)
    args = parser.parse_args(argv)
    ctx = multiprocessing.get_context("spawn")

    with tempfile.TemporaryDirectory() as tmp, StubServer() as server:
        delivered = [0]

        @server.route("POST", "/hooks/slow")
        def hook(_req: StubRequest) -> StubResponse:
            time.sleep(args.webhook_ms / 1000)  # a slow receiver
            delivered[0] += 1
            return StubResponse(200, {"ok": True})

        hook_url = f"{server.base_url}/hooks/slow"
        url = fresh_migrated_sqlite(Path(tmp), "locks.db")
        engine = make_engine(url)
        factory = make_session_factory(engine)
        demo = run(factory, seed_demo, "bench-locks")
        with factory() as session:
            clerk = load_actor(session, demo.members["小周"])
            manager = load_actor(session, demo.members["赵经理"])
        note(f"history: {seed_history(factory, demo)} series × {HISTORY_WEEKS} weeks")
        receipt_latencies(factory, demo, clerk, 5)  # warm up
        start = time.perf_counter()
        run(factory, run_forecast, manager, RunForecast(horizon=8))
        figure("forecast_run", (time.perf_counter() - start) * 1000, "ms")
        values, failed = receipt_latencies(factory, demo, clerk, args.receipts, args.seconds)
        quiet = report("receipt_quiet", values, failed, None)
        with factory() as session:
            session.add(WebhookSubscription(org_id=demo.org_id, url=hook_url, secret="s", kinds=["receipt.posted"],
                                            active=True))
            session.commit()
        for kind in ("forecast", "forecast_in_one_transaction", "relay", "relay_http_in_transaction"):
            if kind.startswith("relay"):  # start from an empty outbox: only this phase's receipts are relayed
                from workflows.relay import HandlerRegistry, relay_pending
                while relay_pending(factory, limit=500, handlers=HandlerRegistry()):
                    pass
            delivered[0] = 0
            ready, stop, loops = ctx.Event(), ctx.Event(), ctx.Value("i", 0)
            worker = ctx.Process(target=background, args=(kind, url, manager.member_id, hook_url, ready, stop, loops))
            worker.start()
            ready.wait(60)  # the worker's imports done
            values, failed = receipt_latencies(factory, demo, clerk, args.receipts, args.seconds)
            posts = delivered[0]  # during the receipts (the worker finishes its batch after stop)
            stop.set()
            worker.join()
            figure(f"receipt_beside_{kind}_count", len(values), "receipts")
            report(f"receipt_beside_{kind}", values, failed, quiet)
            figure(f"{kind}_loops", loops.value, "runs")
            if kind.startswith("relay"):
                figure(f"{kind}_webhooks_delivered", posts, "posts")
        engine.dispose()


if __name__ == "__main__":
    main()
