"""Offline sync: server time of a 200-operation POST /api/v1/sync batch, fresh and replayed.

A batch is what a phone queues in a weak-signal morning: 120 farmer receipts, 50 shipments,
20 transfer requests and 10 counts, each with its own client UUID and a business time in the
past hour, posted for a fresh demo co-operative each round. Prints ``name: value unit`` lines
(p50/p95 over the batches); progress on stderr.

    .venv/bin/python -m bench.sync [-n 10] [--ops 200] [--db sqlite|postgres]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.common import (
    drop_postgres_database,
    figure,
    fresh_migrated_postgres,
    fresh_migrated_sqlite,
    note,
    percentile,
)
from models.base import utcnow
from models.db import make_engine, make_session_factory
from models.demo import DemoOrg, seed_demo
from models.uow import run


def batch(demo: DemoOrg, size: int) -> list[dict[str, Any]]:
    """Return ``size`` queued operations in the mix a collection point produces."""
    sx, zc, leaf = demo.sites["SX"], demo.sites["ZC"], demo.items["茶青"]
    grades = list(demo.grades.values())
    farmers = [demo.parties[n] for n in ("王阿姨", "李大伯", "陈小芳")]
    start = utcnow() - timedelta(hours=1)
    ops: list[dict[str, Any]] = []
    for n in range(size):
        slot = n % 20
        if slot < 12:
            kind, body = "receive", {"site_id": sx, "item_id": leaf, "quantity": str(20 + n % 7), "unit": "斤",
                                     "party_id": farmers[n % 3], "grade_id": grades[n % 3]}
        elif slot < 17:
            kind, body = "ship", {"site_id": sx, "item_id": leaf, "quantity": "1",
                                  "party_id": demo.parties["杭州茶城"], "unit_price": "150"}
        elif slot < 19:
            kind, body = "transfer_request", {"from_site_id": sx, "to_site_id": zc,
                                              "lines": [{"item_id": leaf, "quantity": "2"}]}
        else:
            kind, body = "count", {"site_id": zc, "item_id": leaf, "counted": "0"}
        ops.append({"client_id": str(uuid.uuid4()), "kind": kind, "body": body,
                    "business_time": (start + timedelta(seconds=10 * n)).isoformat()})
    return ops


def _bench(url: str, tmp: Path, rounds: int, size: int, db: str) -> None:
    from app.factory import create_app
    from miniprogram_api.auth import issue_token

    factory = make_session_factory(make_engine(url))
    app = create_app({"DATABASE_URL": url, "MEDIA_ROOT": str(tmp / "media"), "LIUZHUAN_VAR_DIR": str(tmp)})
    client = app.test_client()
    cpu: list[float] = []

    def org(code: str) -> tuple[DemoOrg, dict[str, str]]:
        """A fresh co-operative per round: the figure is the batch, not the lots earlier rounds left."""
        demo = run(factory, seed_demo, code)
        with app.app_context():
            return demo, {"Authorization": f"Bearer {issue_token(demo.members['赵经理'], demo.org_id)}"}

    def post(headers: dict[str, str], ops: list[dict[str, Any]]) -> tuple[float, dict[str, Any]]:
        began, began_cpu = time.perf_counter(), time.process_time()
        resp = client.post("/api/v1/sync", headers=headers, json={"operations": ops})
        elapsed = time.perf_counter() - began
        cpu.append((time.process_time() - began_cpu) * 1000)
        if resp.status_code != 200:
            raise SystemExit(f"sync answered {resp.status_code}: {resp.get_data(as_text=True)[:500]}")
        return elapsed * 1000, resp.get_json()

    demo, headers = org("bench-sync-warm")
    post(headers, batch(demo, 20))  # warm up: imports, caches, first lots
    fresh: list[float] = []
    replay: list[float] = []
    fresh_cpu: list[float] = []
    for r in range(rounds):
        demo, headers = org(f"bench-sync-{r}")
        ops = batch(demo, size)
        ms, out = post(headers, ops)
        if out["applied"] != size:
            bad = [x for x in out["results"] if x["status"] != "applied"][:3]
            raise SystemExit(f"round {r}: only {out['applied']}/{size} applied: {bad}")
        fresh.append(ms)
        fresh_cpu.append(cpu[-1])
        ms, out = post(headers, ops)
        if out["already_applied"] != size:
            raise SystemExit(f"round {r}: replay gave {out['already_applied']}/{size} already_applied")
        replay.append(ms)
        note(f"round {r + 1}/{rounds}: fresh {fresh[-1]:.0f} ms (cpu {fresh_cpu[-1]:.0f}), replay {replay[-1]:.0f} ms")
    figure(f"sync_{size}_ops_{db}_p50", percentile(fresh, 50), "ms")
    figure(f"sync_{size}_ops_{db}_p95", percentile(fresh, 95), "ms")
    figure(f"sync_{size}_ops_{db}_per_op_p50", percentile(fresh, 50) / size, "ms", digits=2)
    # Python-side CPU (Flask, pydantic, SQLAlchemy, driver) of the fresh batch: wall >> CPU means waiting.
    figure(f"sync_{size}_ops_{db}_app_cpu_p50", percentile(fresh_cpu, 50), "ms")
    figure(f"sync_{size}_ops_replay_{db}_p50", percentile(replay, 50), "ms")
    figure(f"sync_{size}_ops_replay_{db}_p95", percentile(replay, 95), "ms")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=10, help="batches")
    parser.add_argument("--ops", type=int, default=200, help="operations per batch")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-sync-"))
    url = fresh_migrated_postgres("liuzhuan_bench_sync") if args.db == "postgres" else \
        fresh_migrated_sqlite(tmp, "sync.db")
    try:
        _bench(url, tmp, args.n, args.ops, args.db)
    finally:
        if args.db == "postgres":
            make_engine(url).dispose()
            drop_postgres_database("liuzhuan_bench_sync")


if __name__ == "__main__":
    main()
