"""Edge-node sync (issue 14): catch-up after a day offline, rows per second each way, steady-state lag.

Headquarters is gunicorn in a subprocess on a free port with its own database (SQLite, or PostgreSQL
with ``--db postgres``); the edge nodes are SQLite files, and all their work runs in subprocesses of
this module (``--worker …``) because the node code is process-global (models.node). In order:

1. Down: headquarters posts ``--down`` receipts at 总仓 (``--down-site``); a fresh node there (DN1)
   pulls them with its first sync (master data too). ``down_rows_per_s`` = rows headquarters sent ÷
   the sync's time. At 总仓, not at SX1's site: headquarters re-sends its moves of the last five
   minutes (the overlap) with every exchange, which would slow SX1's catch-up (``--down-site SX``).
2. Catch-up: node SX1 syncs once (master data, its id block), then posts ``-N`` farmer receipts
   without syncing (in batches through models.operations.batch), then syncs until caught up.
   Headquarters must then hold exactly N documents of SX1's number series and N moves from SX1.
3. Steady state: one node process posts 10 receipts/s for ``--seconds`` while another syncs every
   ``--interval`` seconds (on a fixed schedule); this process polls headquarters' database every
   50 ms for SX1's document numbers. A receipt's lag is first seen at headquarters − committed at
   the node (one clock: same machine).

    .venv/bin/python -m bench.node_sync [--quick] [--db sqlite|postgres] [-N 100000] [--interval 5]

Figures go to stdout as ``name: value unit``; progress to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any, cast

from bench.common import (
    ROOT,
    drop_postgres_database,
    figure,
    fresh_migrated_postgres,
    fresh_migrated_sqlite,
    note,
    percentile,
)

PG_DB = "liuzhuan_bench_node_sync"
#: The node's changes headquarters has not acknowledged (its log may keep acknowledged entries).
UNSENT = "SELECT count(*) FROM sync_log WHERE seq > (SELECT coalesce(max(up_acked), 0) FROM node_state)"
#: Receipts per transaction while filling a node's backlog (apply_batch: one commit, a savepoint each).
FILL_BATCH = 500
#: Exchanges in a row that say "more" but bring nothing new before a sync counts as stalled.
STALLED = 5
#: How often this process looks for SX1's documents at headquarters during the steady state.
POLL = 0.05


# ---------------------------------------------------------------- node-side workers (subprocesses)

def _node_factory() -> tuple[Any, Any]:
    """This worker as the edge node its environment names (LIUZHUAN_NODE …)."""
    from app.settings import Settings
    from models import node
    from models.db import make_engine, make_session_factory

    settings = Settings.from_env()
    node.configure(settings.node_name)
    return settings, make_session_factory(make_engine(settings.database_url))


def _receipt(ids: dict[str, Any], n: int) -> Any:
    from models.operations import ReceiveGoods

    return ReceiveGoods(site_id=ids["site"], item_id=ids["item"], quantity=Decimal(10 + n % 20) + Decimal("0.5"),
                        party_id=ids["farmers"][n % len(ids["farmers"])], grade_id=ids["grade"])


def _sync(settings: Any, factory: Any) -> tuple[int, int, int, int]:
    """Exchange until caught up and record it, as `sync --once` (app.node_sync.sync_once) does;
    returns (exchanges, entries up, rows down, gzip bytes sent)."""
    from datetime import datetime

    from app.node_sync import exchange_once
    from models.operations.nodes import RecordSync, record_sync
    from models.uow import run

    rounds = up = down = sent = idle = 0
    while True:
        got = exchange_once(settings, factory)
        rounds, up, down, sent = rounds + 1, up + got["up"], down + got["down"], sent + got["bytes"]
        if not got["more"]:
            break
        # "More" with nothing new either way, again and again: the exchange makes no progress.
        idle = idle + 1 if not got["up"] and not got["down"] else 0
        if idle >= STALLED:
            raise SystemExit(f"sync stalled: {idle} exchanges in a row said 'more' and moved nothing "
                             f"({rounds} exchanges, {down} rows down so far)")
    hq_time = datetime.fromisoformat(got["server_time"])
    run(factory, record_sync, RecordSync(settings.node_name, ok=True, hq_time=hq_time))
    return rounds, up, down, sent


def _worker_sync(args: dict[str, Any]) -> dict[str, Any]:
    """Exchange until caught up, timed."""
    settings, factory = _node_factory()
    began = time.perf_counter()
    rounds, up, down, sent = _sync(settings, factory)
    return {"seconds": time.perf_counter() - began, "rounds": rounds, "up_entries": up, "down_rows": down,
            "bytes_up": sent}


def _worker_fill(args: dict[str, Any]) -> dict[str, Any]:
    """Post ``count`` receipts at the node, FILL_BATCH per transaction, without syncing."""
    from models.actor import Actor
    from models.operations import receive_goods
    from models.operations.batch import BatchOp, apply_batch

    _settings, factory = _node_factory()
    ids, count = args["ids"], args["count"]
    actor = Actor.system_actor(ids["org"], "压测")
    began = time.perf_counter()
    applied = 0
    for start in range(0, count, FILL_BATCH):
        ops = [BatchOp(f"bench-fill-{n}", receive_goods, _receipt(ids, n))
               for n in range(start, min(count, start + FILL_BATCH))]
        outcomes = apply_batch(factory, actor, ops)
        bad = [o for o in outcomes if o.status != "applied"]
        if bad:
            raise SystemExit(f"fill: {len(bad)} receipts not applied, first: {bad[0].error!r}")
        applied += len(ops)
        if (start // FILL_BATCH) % 20 == 0:
            note(f"  node posted {applied}/{count}")
    return {"seconds": time.perf_counter() - began, "applied": applied}


def _worker_post(args: dict[str, Any]) -> dict[str, Any]:
    """Post ``rate`` receipts per second for ``seconds``, one transaction each; one JSON line per
    receipt (number, commit time) to ``out``."""
    from models.actor import Actor
    from models.operations import receive_goods
    from models.uow import run

    _settings, factory = _node_factory()
    ids, rate, seconds = args["ids"], args["rate"], args["seconds"]
    actor = Actor.system_actor(ids["org"], "压测")
    total, late = int(rate * seconds), 0
    start = time.time()
    with open(args["out"], "w") as out:
        for n in range(total):
            due = start + n / rate
            wait = due - time.time()
            if wait > 0:
                time.sleep(wait)
            elif wait < -0.5:
                late += 1
            receipt = run(factory, receive_goods, actor, _receipt(ids, 1_000_000 + n))
            out.write(json.dumps({"number": receipt.number, "committed": time.time()}) + "\n")
            out.flush()
    return {"posted": total, "late": late, "seconds": time.time() - start}


def _worker_sync_loop(args: dict[str, Any]) -> dict[str, Any]:
    """Sync every ``interval`` seconds on a fixed schedule until ``stop`` exists."""
    settings, factory = _node_factory()
    interval, stop = args["interval"], Path(args["stop"])
    durations: list[float] = []
    start = time.time()
    k = 0
    while not stop.exists():
        began = time.time()
        _sync(settings, factory)
        durations.append(time.time() - began)
        k += 1
        wait = start + k * interval - time.time()
        while wait > 0 and not stop.exists():
            time.sleep(min(wait, 0.1))
            wait = start + k * interval - time.time()
    return {"syncs": len(durations), "durations": durations}


WORKERS = {"sync": _worker_sync, "fill": _worker_fill, "post": _worker_post, "sync-loop": _worker_sync_loop}


def worker_main(kind: str, raw: str) -> None:
    result = WORKERS[kind](json.loads(raw))
    print(json.dumps(result), flush=True)


# ---------------------------------------------------------------- headquarters side (this process)

class Bench:
    def __init__(self, tmp: Path, hq_url: str) -> None:
        from models.db import make_engine, make_session_factory

        self.tmp, self.hq_url = tmp, hq_url
        self.engine = make_engine(hq_url)
        self.factory = make_session_factory(self.engine)
        self.port = _free_port()
        self.keys: dict[str, str] = {}
        self.server: subprocess.Popen[bytes] | None = None

    def setup(self, down_site: str) -> dict[str, Any]:
        from models.actor import Actor
        from models.demo import seed_demo
        from models.operations.nodes import RegisterNode, register_node
        from models.uow import run

        demo = run(self.factory, seed_demo, "bench-nodes")
        actor = Actor.system_actor(demo.org_id, "压测")
        for code, site in (("SX1", "SX"), ("DN1", down_site)):
            self.keys[code] = run(self.factory, register_node, actor,
                                  RegisterNode(code=code, site_ids=(demo.sites[site],))).key
        return {"org": demo.org_id, "site": demo.sites["SX"], "down_site": demo.sites[down_site],
                "item": demo.items["茶青"],
                "grade": demo.grades["一级"], "farmers": [demo.parties[n] for n in ("王阿姨", "李大伯", "陈小芳")]}

    def start_server(self) -> None:
        env = {**os.environ, "DATABASE_URL": self.hq_url, "LIUZHUAN_VAR_DIR": str(self.tmp / "hqvar"),
               "PUBLIC_BASE_URL": f"http://127.0.0.1:{self.port}"}
        for name in ("LIUZHUAN_NODE", "LIUZHUAN_HQ_URL", "LIUZHUAN_NODE_KEY"):
            env.pop(name, None)
        log = open(self.tmp / "gunicorn.log", "wb")  # noqa: SIM115 - lives as long as the server
        self.server = subprocess.Popen(
            [str(ROOT / ".venv/bin/gunicorn"), "--bind", f"127.0.0.1:{self.port}", "--workers", "1",
             "--timeout", "300", "app.factory:create_app()"], cwd=ROOT, env=env, stdout=log, stderr=log)
        import requests

        deadline = time.time() + 60
        while time.time() < deadline:
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code < 500:
                    return
            except requests.RequestException:
                time.sleep(0.2)
        raise SystemExit(f"headquarters did not start: see {self.tmp / 'gunicorn.log'}")

    def stop_server(self) -> None:
        if self.server is not None:
            self.server.terminate()
            self.server.wait(30)
            self.server = None

    def node_env(self, code: str) -> dict[str, str]:
        return {**os.environ, "DATABASE_URL": f"sqlite:///{self.tmp / code}.db",
                "LIUZHUAN_VAR_DIR": str(self.tmp / f"{code}var"), "LIUZHUAN_NODE": code,
                "LIUZHUAN_HQ_URL": f"http://127.0.0.1:{self.port}", "LIUZHUAN_NODE_KEY": self.keys[code]}

    def new_node(self, code: str) -> None:
        fresh_migrated_sqlite(self.tmp, f"{code}.db")

    def spawn(self, code: str, kind: str, args: dict[str, Any]) -> subprocess.Popen[str]:
        return subprocess.Popen([sys.executable, "-m", "bench.node_sync", "--worker", kind, json.dumps(args)],
                                cwd=ROOT, env=self.node_env(code), stdout=subprocess.PIPE, text=True)

    def call(self, code: str, kind: str, args: dict[str, Any]) -> dict[str, Any]:
        return _result(self.spawn(code, kind, args), kind)

    def scalar(self, sql: str, **params: Any) -> Any:
        from sqlalchemy import text

        with self.engine.connect() as conn:
            return conn.execute(text(sql), params).scalar()

    def node_rows(self, code: str) -> tuple[int, int]:
        found = self.scalar("SELECT rows_up || ',' || rows_down FROM nodes WHERE code = :c", c=code)
        up, down = str(found).split(",")
        return int(up), int(down)

    def hq_receipts(self, ids: dict[str, Any], count: int) -> None:
        """Post ``count`` receipts at the down node's site at headquarters."""
        from models.actor import Actor
        from models.operations import receive_goods
        from models.operations.batch import BatchOp, apply_batch

        actor = Actor.system_actor(ids["org"], "压测")
        for start in range(0, count, FILL_BATCH):
            ops = [BatchOp(f"bench-hq-{n}", receive_goods, _receipt({**ids, "site": ids["down_site"]}, n))
                   for n in range(start, min(count, start + FILL_BATCH))]
            if any(o.status != "applied" for o in apply_batch(self.factory, actor, ops)):
                raise SystemExit("headquarters' receipts were not all applied")


def _result(proc: subprocess.Popen[str], kind: str) -> dict[str, Any]:
    out, _ = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"node worker {kind} failed ({proc.returncode})")
    return dict(json.loads(out.strip().splitlines()[-1]))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _node_count(tmp: Path, code: str, sql: str) -> int:
    import sqlite3

    with sqlite3.connect(tmp / f"{code}.db") as conn:
        return int(conn.execute(sql).fetchone()[0])


def down_phase(b: Bench, ids: dict[str, Any], count: int) -> None:
    note(f"down: headquarters posts {count} receipts at the down site")
    b.hq_receipts(ids, count)
    b.new_node("DN1")
    got = b.call("DN1", "sync", {})
    _up, sent = b.node_rows("DN1")
    moves = _node_count(b.tmp, "DN1", "SELECT count(*) FROM stock_moves")
    if moves != count:
        raise SystemExit(f"down: the fresh node has {moves} moves, headquarters posted {count}")
    note(f"down: {sent} rows in {got['seconds']:.1f} s, {got['rounds']} exchanges; node wrote {got['down_rows']}")
    figure("down_moves", count)
    figure("down_seconds", got["seconds"], "s")
    figure("down_rows", sent)
    figure("down_rows_per_s", sent / got["seconds"], "rows/s", digits=0)


def catchup_phase(b: Bench, ids: dict[str, Any], count: int) -> None:
    b.new_node("SX1")
    b.call("SX1", "sync", {})  # master data, the id block (and the down phase's moves)
    note(f"catch-up: node SX1 posts {count} receipts offline")
    filled = b.call("SX1", "fill", {"ids": ids, "count": count})
    note(f"catch-up: posted in {filled['seconds']:.1f} s ({count / filled['seconds']:.0f}/s)")
    backlog = _node_count(b.tmp, "SX1", UNSENT)
    rows_before, _ = b.node_rows("SX1")
    got = b.call("SX1", "sync", {})
    rows_after, _ = b.node_rows("SX1")
    rows = rows_after - rows_before
    docs = int(b.scalar("SELECT count(*) FROM documents WHERE number LIKE 'RK-SX-SX1-%'"))
    moves = int(b.scalar("SELECT count(*) FROM stock_moves WHERE origin_node = 'SX1'"))
    left = _node_count(b.tmp, "SX1", UNSENT)
    if docs != count or moves != count or left:
        raise SystemExit(f"catch-up lost rows: headquarters has {docs} documents and {moves} moves of SX1 "
                         f"for {count} receipts; {left} changes still unsent")
    note(f"catch-up: {backlog} log entries, {rows} rows in {got['rounds']} exchanges, "
         f"{got['bytes_up']} bytes up; headquarters has all {count}")
    figure("node_receipts_per_s", count / filled["seconds"], "receipts/s", digits=0)
    figure("catchup_moves", count)
    figure("catchup_seconds", got["seconds"], "s")
    figure("catchup_exchanges", got["rounds"])
    figure("up_rows", rows)
    figure("up_rows_per_s", rows / got["seconds"], "rows/s", digits=0)
    figure("up_rows_per_move", rows / count, "rows", digits=1)
    figure("bytes_per_move", got["bytes_up"] / count, "bytes", digits=0)


def steady_phase(b: Bench, ids: dict[str, Any], seconds: float, interval: float, rate: float) -> None:
    from sqlalchemy import text

    stop, out = b.tmp / "stop", b.tmp / "posted.jsonl"
    note(f"steady: {rate:g} receipts/s for {seconds:g} s, sync every {interval:g} s")
    syncer = b.spawn("SX1", "sync-loop", {"interval": interval, "stop": str(stop)})
    poster = b.spawn("SX1", "post", {"ids": ids, "rate": rate, "seconds": seconds, "out": str(out)})
    seen: dict[str, float] = {}
    last = int(b.scalar("SELECT coalesce(max(id), 0) FROM documents WHERE number LIKE 'RK-SX-SX1-%'"))
    expected = int(rate * seconds)
    deadline = None
    with b.engine.connect() as conn:
        while len(seen) < expected:
            rows = conn.execute(text("SELECT id, number FROM documents WHERE id > :last AND number LIKE 'RK-SX-SX1-%'"),
                                {"last": last}).all()
            conn.rollback()  # a fresh snapshot next time (PostgreSQL's read transaction)
            now = time.time()
            for doc_id, number in rows:
                seen.setdefault(str(number), now)
                last = max(last, cast(int, doc_id))
            if deadline is None and poster.poll() is not None:
                deadline = now + interval + 60
            if deadline is not None and now > deadline:
                break
            time.sleep(POLL)
    posted = _result(poster, "post")
    stop.touch()
    synced = _result(syncer, "sync-loop")
    committed = {r["number"]: r["committed"] for r in map(json.loads, out.read_text().splitlines())}
    missing = [n for n in committed if n not in seen]
    if missing or len(committed) != expected:
        raise SystemExit(f"steady: {len(missing)} of {len(committed)} receipts never reached headquarters")
    lags = [seen[n] - t for n, t in committed.items()]
    durations = synced["durations"]
    note(f"steady: {len(lags)} receipts ({posted['late']} posted > 0.5 s late), {synced['syncs']} syncs, "
         f"sync p50 {percentile(durations, 50):.2f} s, max {max(durations):.2f} s")
    figure("steady_receipts", len(lags))
    figure("interval_s", interval, "s")
    figure("lag_p50_s", percentile(lags, 50), "s", digits=2)
    figure("lag_p95_s", percentile(lags, 95), "s", digits=2)
    figure("lag_max_s", max(lags), "s", digits=2)
    figure("lag_p95_minus_interval_s", percentile(lags, 95) - interval, "s", digits=2)
    figure("sync_seconds_p95", percentile(durations, 95), "s", digits=2)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").strip().split("\n", 1)[0])
    parser.add_argument("--worker", nargs=2, metavar=("KIND", "JSON"), help=argparse.SUPPRESS)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite", help="headquarters' database")
    parser.add_argument("--quick", action="store_true", help="5,000 receipts offline, 15 s steady")
    parser.add_argument("-N", type=int, help="receipts posted offline at the node (default 100,000)")
    parser.add_argument("--down", type=int, default=2_000,
                        help="receipts at headquarters a fresh node pulls (more than 2,000 stall today: README)")
    parser.add_argument("--down-site", choices=("ZC", "SX"), default="ZC",
                        help="where the down receipts are posted; SX: also SX1's site, so every catch-up exchange "
                             "re-sends the ones inside the overlap")
    parser.add_argument("--seconds", type=float, help="steady state length (default 60)")
    parser.add_argument("--interval", type=float, default=5.0, help="steady state sync interval (s)")
    parser.add_argument("--rate", type=float, default=10.0, help="steady state receipts per second")
    parser.add_argument("--keep", action="store_true", help="leave the databases and logs behind")
    args = parser.parse_args()
    if args.worker:
        worker_main(*args.worker)
        return
    count = args.N or (5_000 if args.quick else 100_000)
    seconds = args.seconds or (15.0 if args.quick else 60.0)
    tmp = Path(tempfile.mkdtemp(prefix="bench-node-sync-"))
    url = fresh_migrated_postgres(PG_DB) if args.db == "postgres" else fresh_migrated_sqlite(tmp, "hq.db")
    b = Bench(tmp, url)
    figure("host_loadavg_1m_start", os.getloadavg()[0], digits=2)
    try:
        ids = b.setup(args.down_site)
        b.start_server()
        down_phase(b, ids, args.down)
        catchup_phase(b, ids, count)
        steady_phase(b, ids, seconds, args.interval, args.rate)
        figure("host_loadavg_1m_end", os.getloadavg()[0], digits=2)
    finally:
        b.stop_server()
        b.engine.dispose()
        if args.keep:
            note(f"kept {tmp}")
        elif args.db == "postgres":
            drop_postgres_database(PG_DB)
        if not args.keep:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
