"""Ledger benchmarks: posting throughput, a ship race, and balance lookups on a big ledger.

Run from the repository root::

    .venv/bin/python -m bench.ledger            # full run, about 4-6 minutes
    .venv/bin/python -m bench.ledger --quick    # smoke run, about a minute

Figures go to stdout, one per line, as ``name: value unit``; progress goes to stderr.
See bench/README.md for what each figure means and the targets.
"""

from __future__ import annotations

import argparse
import itertools
import multiprocessing
import os
import random
import re
import subprocess
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from bench.common import (
    PG_ADMIN_URL,
    Stopwatch,
    drop_postgres_database,
    figure,
    find_pgbench,
    fresh_migrated_postgres,
    fresh_migrated_sqlite,
    fresh_postgres_database,
    libpq_url,
    note,
    percentile,
)
from models import number_blocks
from models.actor import Actor, load_actor
from models.db import make_engine, make_session_factory
from models.demo import DemoOrg, seed_demo
from models.errors import InsufficientStock
from models.invariants import check_all, ledger_matches_balances, no_forbidden_negatives
from models.operations import ReceiveGoods, ShipGoods, receive_goods, ship_goods
from models.posting_writer import writer_for
from models.queries import stock_level
from models.stock import Balance, StockMove
from models.uow import run, run_alone

DB_RECEIPTS = "liuzhuan_bench_receipts"
DB_RACE = "liuzhuan_bench_race"
DB_LEDGER = "liuzhuan_bench_ledger"
DB_PGBENCH = "liuzhuan_bench_pgbench"

SECTIONS = ("receipts", "pgbench", "race", "lookup")


@dataclass(frozen=True)
class Plan:
    """How long and how big each benchmark is (full run or --quick)."""

    warmup_s: float
    duration_s: float
    clients: tuple[int, ...] = (1, 16)
    pgbench_scale: int = 16
    pgbench_clients: int = 16
    pgbench_threads: int = 2
    pgbench_seconds: int = 10
    race_threads: int = 16
    race_units: int = 1_000
    race_attempts: int = 10_000
    race_backends: tuple[str, ...] = ("pg", "sqlite")
    ledger_rows: int = 2_000_000
    ledger_items: int = 200
    ledger_lots_per_item: int = 5
    moves_per_document: int = 100
    lookups: int = 2_000


FULL = Plan(warmup_s=2.0, duration_s=10.0)
QUICK = Plan(
    warmup_s=1.0, duration_s=3.0, pgbench_seconds=3, race_units=100, race_attempts=1_000,
    ledger_rows=200_000,
)


# --------------------------------------------------------------------------- helpers


def new_demo(session_factory: sessionmaker[Session], label: str) -> tuple[DemoOrg, dict[str, Actor]]:
    """Seed a fresh demo co-operative and return it with its people as actors."""
    demo = run(session_factory, seed_demo, f"bench-{label}-{uuid.uuid4().hex[:8]}")
    with session_factory() as session:
        actors = {name: load_actor(session, member_id) for name, member_id in demo.members.items()}
    return demo, actors


def invariants_ok(session_factory: sessionmaker[Session], org_id: int) -> bool:
    with session_factory() as session:
        report = check_all(session, org_id)
    for problem in report.problems()[:5]:
        note(f"invariant broken: {problem}")
    return report.ok


def farmer_receipts(demo: DemoOrg) -> list[ReceiveGoods]:
    """What a collection-point clerk types all day: 王阿姨 23.5 斤 一级 …"""
    farmers = ("王阿姨", "李大伯", "陈小芳")
    grades = ("特级", "一级", "二级")
    quantities = ("23.5", "18", "41.2", "9.6", "30")
    return [
        ReceiveGoods(
            site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal(qty), unit="斤",
            party_id=demo.parties[farmer], grade_id=demo.grades[grade],
        )
        for farmer in farmers for grade in grades for qty in quantities
    ]


# --------------------------------------------------------------------------- receipts


@dataclass
class ClientLog:
    done: list[tuple[float, float]] = field(default_factory=list)  # (finished at, latency)
    errors: int = 0
    first_error: str = ""


@dataclass(frozen=True)
class Throughput:
    ops_per_s: float
    p50_ms: float
    p95_ms: float
    failed: int
    cpu_ms_per_op: float
    #: CPU the PostgreSQL server processes spent per operation in the window (NaN off Linux / SQLite).
    server_cpu_ms_per_op: float = float("nan")


def postgres_cpu_s() -> float:
    """CPU seconds (user + system) of every process named ``postgres`` on this machine (Linux /proc)."""
    total, tick = 0.0, os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # the process ended meanwhile
        name, rest = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
        if name == "postgres":
            total += (int(rest[11]) + int(rest[12])) / tick  # utime, stime (fields 14, 15)
    return total


def run_clients(
    clients: int, warmup_s: float, duration_s: float, work: Callable[[int, int], None]
) -> Throughput:
    """Run ``work(client, n)`` in a loop on ``clients`` threads; count what finishes in the window."""
    stop = threading.Event()
    logs = [ClientLog() for _ in range(clients)]

    def loop(client: int) -> None:
        log, n = logs[client], 0
        while not stop.is_set():
            started = time.perf_counter()
            try:
                work(client, n)
            except Exception as exc:  # a failed posting is counted, not fatal
                log.errors += 1
                log.first_error = log.first_error or f"{type(exc).__name__}: {exc}"
            else:
                ended = time.perf_counter()
                log.done.append((ended, ended - started))
            n += 1

    threads = [threading.Thread(target=loop, args=(c,), daemon=True) for c in range(clients)]
    for thread in threads:
        thread.start()
    time.sleep(warmup_s)
    window_start, cpu_start, server_start = time.perf_counter(), time.process_time(), postgres_cpu_s()
    time.sleep(duration_s)
    window_end, cpu_end, server_end = time.perf_counter(), time.process_time(), postgres_cpu_s()
    stop.set()
    for thread in threads:
        thread.join()

    latencies = [lat for log in logs for end, lat in log.done if window_start <= end <= window_end]
    failed = sum(log.errors for log in logs)
    for log in logs:
        if log.first_error:
            note(f"client error: {log.first_error}")
            break
    count = len(latencies)
    return Throughput(
        ops_per_s=count / (window_end - window_start),
        p50_ms=percentile(latencies, 50) * 1000,
        p95_ms=percentile(latencies, 95) * 1000,
        failed=failed,
        cpu_ms_per_op=(cpu_end - cpu_start) / count * 1000 if count else float("nan"),
        server_cpu_ms_per_op=(server_end - server_start) / count * 1000 if count else float("nan"),
    )


def round_trips(trace: str) -> tuple[int, int]:
    """(round trips, protocol messages sent) in a libpq trace: a round trip is a run of frontend
    ("F") messages followed by the backend's ("B") answer."""
    trips = sent = 0
    last = ""
    for line in trace.splitlines():
        direction = line.split("\t", 1)[0]
        if direction == "F":
            sent += 1
            if last != "F":
                trips += 1
        if direction in ("F", "B"):
            last = direction
    return trips, sent


def receipt_probe(url: str) -> dict[str, int]:
    """Count what one warm farmer receipt costs the wire: libpq round trips, protocol messages,
    SQL statements (SQLAlchemy's and the posting writer's) and pool checkouts."""
    engine = make_engine(url)
    try:
        session_factory = make_session_factory(engine)
        demo, actors = new_demo(session_factory, "probe")
        cmd = farmer_receipts(demo)[0]
        run(session_factory, receive_goods, actors["小周"], cmd)
        counts = {"statements": 0, "checkouts": 0}
        traced: list[Any] = []
        trace_file = tempfile.NamedTemporaryFile(prefix="receipt-trace-", suffix=".txt", delete=False)  # noqa: SIM115

        def on_execute(*_args: object) -> None:
            counts["statements"] += 1

        def on_checkout(dbapi_conn: Any, *_args: object) -> None:
            counts["checkouts"] += 1
            pgconn = dbapi_conn.pgconn
            pgconn.trace(trace_file.fileno())
            pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
            traced.append(pgconn)

        def on_commit(session: Session) -> None:  # the posting writer's statements bypass SQLAlchemy's events
            counts["statements"] += writer_for(session).statements

        event.listen(engine, "before_cursor_execute", on_execute)
        event.listen(engine.pool, "checkout", on_checkout)
        event.listen(session_factory, "after_commit", on_commit)
        run(session_factory, receive_goods, actors["小周"], cmd)
        for pgconn in traced:
            pgconn.untrace()
        trace_file.close()
        text = Path(trace_file.name).read_text(errors="replace")
        Path(trace_file.name).unlink()
        trips, messages = round_trips(text)
        return {"statements": counts["statements"], "checkouts": counts["checkouts"], "round_trips": trips,
                "messages": messages}
    finally:
        engine.dispose()


#: How the receipt sections call a receipt: ``run`` (concurrent receipts of a process may commit
#: together, models.group_commit) or, with ``--alone``, ``run_alone`` (each its own transaction).
RUNNER: Callable[..., Any] = run


def count_commits(session_factory: sessionmaker[Session]) -> list[int]:
    """A list that grows by one per outermost commit of the factory's sessions."""
    commits: list[int] = []

    def on_commit(session: Session) -> None:
        if not session.in_nested_transaction():
            commits.append(1)

    event.listen(session_factory, "after_commit", on_commit)
    return commits


def bench_receipts(url: str, backend: str, plan: Plan) -> dict[int, float]:
    """Farmer receipts per second at each client count; returns {clients: ops/s}."""
    results: dict[int, float] = {}
    for clients in plan.clients:
        engine = make_engine(url)
        try:
            session_factory = make_session_factory(engine)
            demo, actors = new_demo(session_factory, f"{backend}{clients}")
            clerk = actors["小周"]
            commands = farmer_receipts(demo)

            done = itertools.count()
            refills_before = number_blocks.refills
            commits = count_commits(session_factory)

            def work(client: int, n: int, sf: sessionmaker[Session] = session_factory,
                     cmds: list[ReceiveGoods] = commands, actor: Actor = clerk,
                     counter: itertools.count[int] = done) -> None:
                RUNNER(sf, receive_goods, actor, cmds[(client * 7 + n) % len(cmds)])
                next(counter)

            note(f"receipts on {backend}, {clients} client(s): {plan.warmup_s:g} s warm-up, "
                 f"{plan.duration_s:g} s measured")
            result = run_clients(clients, plan.warmup_s, plan.duration_s, work)
            suffix = f"{backend}_{clients}client{'s' if clients > 1 else ''}"
            figure(f"receipts_per_s_{suffix}", result.ops_per_s, "ops/s")
            figure(f"receipt_latency_p50_{suffix}", result.p50_ms, "ms", 2)
            figure(f"receipt_latency_p95_{suffix}", result.p95_ms, "ms", 2)
            figure(f"receipt_client_cpu_per_op_{suffix}", result.cpu_ms_per_op, "ms", 2)
            posted = next(done)
            # Receipts per transaction (models.group_commit): 1 for one client, or with --alone.
            figure(f"receipts_per_commit_{suffix}", posted / max(1, len(commits)), "receipts", 2)
            if backend == "pg":
                figure(f"receipt_server_cpu_per_op_{suffix}", result.server_cpu_ms_per_op, "ms", 2)
                # Blocks of numbers taken on the side pool (models.number_blocks), per receipt.
                figure(f"receipt_number_refills_per_op_{suffix}",
                       (number_blocks.refills - refills_before) / max(1, posted), "refills", 3)
                if clients == 1:
                    SERVER_CPU["receipt"] = result.server_cpu_ms_per_op
                    SERVER_CPU["receipt_client"] = result.cpu_ms_per_op
            figure(f"receipts_failed_{suffix}", result.failed, "ops")
            figure(f"receipts_invariants_ok_{suffix}", int(invariants_ok(session_factory, demo.org_id)), "bool")
            results[clients] = result.ops_per_s
        finally:
            engine.dispose()
    return results


def _process_clients(url: str, org_id: int, member_id: int, commands: list[ReceiveGoods], first: int,
                     clients: int, plan: Plan, out: multiprocessing.Queue) -> None:
    """One web-worker-like process: ``clients`` threads posting receipts; report its window."""
    engine = make_engine(url)  # a forked child opens its own connections
    try:
        session_factory = make_session_factory(engine)
        with session_factory() as session:
            clerk = load_actor(session, member_id)
        commits = count_commits(session_factory)
        done = itertools.count()

        def work(client: int, n: int) -> None:
            RUNNER(session_factory, receive_goods, clerk, commands[((first + client) * 7 + n) % len(commands)])
            next(done)

        result = run_clients(clients, plan.warmup_s, plan.duration_s, work)
        out.put((result.ops_per_s, result.p50_ms, result.p95_ms, result.failed, next(done), len(commits)))
    finally:
        engine.dispose()


def bench_receipts_processes(url: str, plan: Plan, clients: int = 16, processes: int = 4) -> float:
    """Receipts per second with ``clients`` spread over ``processes`` (as gunicorn workers would be)."""
    engine = make_engine(url)
    try:
        session_factory = make_session_factory(engine)
        demo, _actors = new_demo(session_factory, f"pg{clients}x{processes}")
    finally:
        engine.dispose()  # no pooled connection may cross the fork
    commands = farmer_receipts(demo)
    note(f"receipts on pg, {clients} clients in {processes} processes")
    ctx = multiprocessing.get_context("fork")
    out: multiprocessing.Queue = ctx.Queue()
    per = clients // processes
    procs = [ctx.Process(target=_process_clients, args=(url, demo.org_id, demo.members["小周"], commands,
                                                         p * per, per, plan, out)) for p in range(processes)]
    for proc in procs:
        proc.start()
    results = [out.get(timeout=plan.warmup_s + plan.duration_s + 120) for _ in procs]
    for proc in procs:
        proc.join()
    suffix = f"pg_{clients}clients_{processes}procs"
    total = sum(r[0] for r in results)
    figure(f"receipts_per_s_{suffix}", total, "ops/s")
    figure(f"receipt_latency_p50_{suffix}", max(r[1] for r in results), "ms", 2)  # the worst process
    figure(f"receipt_latency_p95_{suffix}", max(r[2] for r in results), "ms", 2)
    figure(f"receipts_failed_{suffix}", sum(r[3] for r in results), "ops")
    figure(f"receipts_per_commit_{suffix}", sum(r[4] for r in results) / max(1, sum(r[5] for r in results)),
           "receipts", 2)
    engine = make_engine(url)
    try:
        figure(f"receipts_invariants_ok_{suffix}", int(invariants_ok(make_session_factory(engine), demo.org_id)),
               "bool")
    finally:
        engine.dispose()
    return total


# --------------------------------------------------------------------------- pgbench


#: Server CPU per operation measured by the receipts section (for the pgbench section's ceiling).
SERVER_CPU: dict[str, float] = {}


def bench_pgbench(plan: Plan) -> float:
    """TPC-B on the same server: the yardstick for what the hardware commits per second."""
    url = make_url(libpq_url(fresh_postgres_database(DB_PGBENCH)))
    pgbench = find_pgbench()
    conn_args = ["-h", url.host or "127.0.0.1", "-p", str(url.port or 5432), "-U", url.username or "postgres"]
    note(f"pgbench -i -s {plan.pgbench_scale}")
    subprocess.run([pgbench, *conn_args, "-i", "-q", "-s", str(plan.pgbench_scale), DB_PGBENCH],
                   check=True, capture_output=True, text=True)
    note(f"pgbench -c {plan.pgbench_clients} -j {plan.pgbench_threads} -T {plan.pgbench_seconds}")
    proc = subprocess.Popen(
        [pgbench, *conn_args, "-c", str(plan.pgbench_clients), "-j", str(plan.pgbench_threads),
         "-T", str(plan.pgbench_seconds), DB_PGBENCH],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    # Server CPU is sampled mid-run: pgbench's backends exit (and take their CPU counters) at its end.
    time.sleep(plan.pgbench_seconds / 3)
    sample_start, server_start = time.perf_counter(), postgres_cpu_s()
    time.sleep(plan.pgbench_seconds / 3)
    server_rate = (postgres_cpu_s() - server_start) / (time.perf_counter() - sample_start)
    stdout, stderr = proc.communicate()
    done = subprocess.CompletedProcess(proc.args, proc.returncode, stdout, stderr)
    if done.returncode != 0:
        raise RuntimeError(f"pgbench failed:\n{stdout}\n{stderr}")
    match = re.search(r"tps = ([0-9.]+)", done.stdout)
    if match is None:
        raise RuntimeError(f"cannot read tps from pgbench output:\n{done.stdout}\n{done.stderr}")
    tps = float(match.group(1))
    figure(f"pgbench_tpcb_tps_{plan.pgbench_clients}clients", tps, "tps")
    if tps > 0:
        per_tx = server_rate / tps * 1000
        figure("pgbench_server_cpu_per_tx", per_tx, "ms", 3)
        if "receipt" in SERVER_CPU:
            # With a client that cost nothing, a receipt could at best run at the server CPU TPC-B's
            # transaction takes: this ratio is the ceiling of receipts_vs_pgbench on this server.
            figure("receipts_vs_pgbench_server_cpu_ceiling", per_tx / SERVER_CPU["receipt"], "ratio", 3)
            # Client and server share this machine's cores: receipts/s can be at most
            # cores / (client + server CPU per receipt), whatever the concurrency.
            both = SERVER_CPU["receipt"] + SERVER_CPU["receipt_client"]
            cores = os.cpu_count() or 1
            figure("receipts_vs_pgbench_machine_cpu_ceiling", cores / both * 1000 / tps, "ratio", 3)
    return tps


# --------------------------------------------------------------------------- ship race


def bench_race(url: str, backend: str, plan: Plan) -> None:
    """``race_threads`` threads ship 1 unit each from one lot of ``race_units``; nobody may oversell."""
    engine = make_engine(url)
    try:
        session_factory = make_session_factory(engine)
        demo, actors = new_demo(session_factory, f"race{backend}")
        site, jar = demo.sites["ZC"], demo.items["龙井"]
        # A supplier price without a purchase order is a price override: the director, with a reason.
        receipt = run(session_factory, receive_goods, actors["钱总监"], ReceiveGoods(
            site_id=site, item_id=jar, quantity=Decimal(plan.race_units), unit_price=Decimal(60),
            party_id=demo.parties["包装厂"], note="race stock", price_reason="基准测试进货价",
        ))
        cmd = ShipGoods(site_id=site, item_id=jar, quantity=Decimal(1), party_id=demo.parties["杭州茶城"],
                        unit_price=Decimal(168), lot_id=receipt.lot_id)
        storekeeper = actors["老孙"]
        attempts = iter(range(plan.race_attempts))
        take = threading.Lock()
        outcome = {"shipped": 0, "insufficient": 0, "other": 0}
        tally = threading.Lock()
        first_error: list[str] = []

        def racer() -> None:
            while True:
                with take:
                    if next(attempts, None) is None:
                        return
                try:
                    run(session_factory, ship_goods, storekeeper, cmd)
                    key = "shipped"
                except InsufficientStock:
                    key = "insufficient"
                except Exception as exc:  # anything else is reported
                    key = "other"
                    first_error.append(f"{type(exc).__name__}: {exc}")
                with tally:
                    outcome[key] += 1

        note(f"ship race on {backend}: {plan.race_threads} threads, {plan.race_attempts} attempts, "
             f"{plan.race_units} units")
        clock = Stopwatch()
        threads = [threading.Thread(target=racer, daemon=True) for _ in range(plan.race_threads)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        elapsed = clock.seconds()
        if first_error:
            note(f"race error: {first_error[0]}")

        with session_factory() as session:
            shipped = -(session.scalar(
                select(func.coalesce(func.sum(StockMove.quantity), 0))
                .where(StockMove.lot_id == receipt.lot_id, StockMove.quantity < 0)
            ) or Decimal(0))
            on_hand = session.scalar(select(Balance.on_hand).where(Balance.lot_id == receipt.lot_id))
        oversold = max(Decimal(0), shipped - plan.race_units, -(on_hand or Decimal(0)))
        if shipped != outcome["shipped"]:
            note(f"ledger shows {shipped} units shipped but {outcome['shipped']} shipments succeeded")

        prefix = "race" if backend == "pg" else f"race_{backend}"
        figure(f"{prefix}_attempts", sum(outcome.values()))
        figure(f"{prefix}_shipped_units", int(shipped), "units")
        figure(f"{prefix}_oversold_units", int(oversold), "units")
        figure(f"{prefix}_insufficient_errors", outcome["insufficient"])
        figure(f"{prefix}_other_errors", outcome["other"])
        figure(f"{prefix}_attempts_per_s", sum(outcome.values()) / elapsed, "ops/s")
        figure(f"{prefix}_invariants_ok", int(invariants_ok(session_factory, demo.org_id)), "bool")
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- big ledger

#: The (item, site, lot) balances the bulk ledger spreads over, numbered b = 0 … keys-1 site by site.
KEYS_SQL = """
CREATE TEMP TABLE bench_keys AS
SELECT (row_number() OVER (ORDER BY s.id, l.item_id, l.id) - 1)::int AS b,
       l.item_id, s.id AS site_id, l.id AS lot_id, 20 + (l.item_id %% 50) AS unit_cost
FROM lots l JOIN items i ON i.id = l.item_id CROSS JOIN sites s
WHERE l.org_id = %(org)s AND i.code LIKE 'BK%%' AND s.org_id = %(org)s AND s.code IN ('SX', 'ZC', 'MD')
"""

MASTER_SQL = [
    """INSERT INTO items (code, name, base_unit, dimension, shelf_life_days, aliases, sale_price, active,
                          org_id, created_at)
       SELECT 'BK' || lpad(i::text, 4, '0'), '散茶 ' || i, '公斤', 'MASS', 365, '', 100 + i, true, %(org)s, now()
       FROM generate_series(1, %(items)s) AS i""",
    """INSERT INTO lots (item_id, code, received_on, produced_on, expires_on, qc_status, org_id, created_at)
       SELECT i.id, 'BK-' || i.id || '-' || k, current_date - 30 * k, current_date - 30 * k - 1,
              current_date + 365 - 30 * k, 'PASSED', %(org)s, now()
       FROM items i CROSS JOIN generate_series(1, %(lots)s) AS k
       WHERE i.org_id = %(org)s AND i.code LIKE 'BK%%'""",
    KEYS_SQL,
    # Document d holds moves n = d*per_doc … d*per_doc+per_doc-1, all at one site; every 4th is a shipment.
    """INSERT INTO documents (kind, number, status, site_id, business_time, created_by, total_amount, tax_amount,
                              urgent, note, extra, org_id, created_at)
       SELECT CASE WHEN d %% 4 = 3 THEN 'SHIPMENT' ELSE 'RECEIPT' END,
              'BK-' || lpad(d::text, 8, '0'), 'POSTED', k.site_id,
              now() - make_interval(secs => (%(docs)s - d) * 60), %(member)s, 0, 0, false, 'bulk load', '{}',
              %(org)s, now()
       FROM generate_series(0, %(docs)s - 1) AS d
       JOIN bench_keys k ON k.b = (d * %(per_doc)s) %% %(keys)s""",
]

MOVES_SQL = [
    KEYS_SQL,
    """CREATE TEMP TABLE bench_docs AS
       SELECT substr(number, 4)::int AS d, id, business_time FROM documents
       WHERE org_id = %(org)s AND number LIKE 'BK-%%'""",
    # Move n lands on balance n %% keys; receipts bring 2-6 units, shipments take 1, at one cost per item.
    """INSERT INTO stock_moves (id, item_id, lot_id, site_id, quantity, unit_cost, value, document_id,
                                business_time, recorded_at, origin_node, reverses_move_id, org_id)
       SELECT gen_random_uuid(), k.item_id, k.lot_id, k.site_id, m.qty, k.unit_cost, m.qty * k.unit_cost,
              bd.id, bd.business_time, bd.business_time, 'bench', NULL, %(org)s
       FROM (
           SELECT n, n / %(per_doc)s AS d,
                  CASE WHEN (n / %(per_doc)s) %% 4 = 3 THEN -1 ELSE 2 + n %% 5 END AS qty
           FROM generate_series(%(first)s, %(last)s) AS n
       ) m
       JOIN bench_keys k ON k.b = m.n %% %(keys)s
       JOIN bench_docs bd ON bd.d = m.d""",
]

BALANCES_SQL = """
INSERT INTO balances (item_id, site_id, lot_id, on_hand, reserved, value, org_id)
SELECT item_id, site_id, lot_id, sum(quantity), 0, sum(value), %(org)s
FROM stock_moves WHERE org_id = %(org)s
GROUP BY item_id, site_id, lot_id
"""


def _load_session(url: str) -> psycopg.Connection:
    """A loading connection: no commit flush wait and, for a superuser, no per-row FK triggers.

    The rows are consistent by construction (and checked afterwards with
    models.invariants), so skipping five FK look-ups per move only saves time.
    """
    conn = psycopg.connect(libpq_url(url))
    conn.execute("SET synchronous_commit = off")
    conn.execute("SET work_mem = '64MB'")
    superuser = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    if superuser and superuser[0]:
        conn.execute("SET session_replication_role = replica")
    conn.commit()
    return conn


def bulk_load_ledger(url: str, demo: DemoOrg, plan: Plan, workers: int = 2) -> list[tuple[int, int]]:
    """Load ``ledger_rows`` stock moves with their items, lots, documents and balances.

    Rows are built inside PostgreSQL with INSERT … SELECT generate_series (the ORM never sees
    them), the moves by ``workers`` connections in parallel. Balances are Σ of the moves, so
    the ledger is consistent. Returns the (item, site) pairs that hold stock.
    """
    keys = plan.ledger_items * plan.ledger_lots_per_item * 3
    per_doc = plan.moves_per_document
    if keys % per_doc or (keys // 3) % per_doc:
        raise ValueError("a document's moves must stay at one site: keys per site % moves per document != 0")
    params = {"org": demo.org_id, "member": demo.members["老孙"], "docs": -(-plan.ledger_rows // per_doc),
              "rows": plan.ledger_rows, "per_doc": per_doc, "keys": keys, "items": plan.ledger_items,
              "lots": plan.ledger_lots_per_item}
    with _load_session(url) as conn:
        for statement in MASTER_SQL:
            conn.execute(statement, params)
        conn.commit()

    errors: list[BaseException] = []

    def load_moves(first: int, last: int) -> None:
        try:
            with _load_session(url) as conn:
                for statement in MOVES_SQL:
                    conn.execute(statement, {**params, "first": first, "last": last})
                conn.commit()
        except BaseException as exc:  # re-raised in the main thread
            errors.append(exc)

    bounds = [plan.ledger_rows * w // workers for w in range(workers + 1)]
    threads = [threading.Thread(target=load_moves, args=(bounds[w], bounds[w + 1] - 1)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]

    with _load_session(url) as conn:
        conn.execute(BALANCES_SQL, params)
        pairs = [(int(item), int(site)) for item, site in conn.execute(
            "SELECT DISTINCT item_id, site_id FROM balances WHERE org_id = %s ORDER BY 1, 2", (demo.org_id,)
        )]
        conn.commit()
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        conn.execute("ANALYZE")
    return pairs


def server_side_lookups(
    engine: Engine, session_factory: sessionmaker[Session], org_id: int, pairs: list[tuple[int, int]]
) -> tuple[list[float], list[str]]:
    """Return PostgreSQL's own execution time (ms) of stock_level's SQL, and its plan's nodes.

    The statement is captured as stock_level sends it, then run again under EXPLAIN ANALYZE:
    a figure the client's scheduling on a busy machine does not inflate.
    """
    captured: list[tuple[str, object]] = []

    def capture(_conn: object, _cursor: object, statement: str, parameters: object, *_rest: object) -> None:
        captured.append((statement, parameters))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        for item, site in pairs:
            with session_factory() as session:
                stock_level(session, org_id, item, site)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    times, nodes = [], []
    with engine.connect() as conn:
        for statement, parameters in captured:
            explained = conn.exec_driver_sql(f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters).scalar_one()
            times.append(float(explained[0]["Execution Time"]))
            if not nodes:
                node = explained[0]["Plan"]
                while node is not None:
                    nodes.append(f"{node['Node Type']}{' on ' + node['Index Name'] if 'Index Name' in node else ''}")
                    node = (node.get("Plans") or [None])[0]
        conn.rollback()
    return times, nodes


def bench_lookup(url: str, plan: Plan) -> None:
    """Balance lookups (models.queries.stock_level) with ``ledger_rows`` moves in the ledger."""
    engine = make_engine(url)
    try:
        session_factory = make_session_factory(engine)
        demo, _ = new_demo(session_factory, "ledger")
        note(f"bulk-loading {plan.ledger_rows:,} stock moves")
        clock = Stopwatch()
        pairs = bulk_load_ledger(url, demo, plan)
        load_s = clock.seconds()
        with session_factory() as session:
            rows = session.scalar(select(func.count()).select_from(StockMove).where(StockMove.org_id == demo.org_id))
        figure("ledger_rows", int(rows or 0), "rows")
        figure("ledger_load_s", load_s, "s")
        figure("ledger_load_rows_per_s", (rows or 0) / load_s, "rows/s", 0)

        rng = random.Random(20261123)
        note(f"{plan.lookups} stock_level lookups over {len(pairs)} (item, site) pairs, two ways")
        in_session, per_request = [], []
        with engine.connect() as conn:
            for n, (item, site) in enumerate(rng.choices(pairs, k=plan.lookups + 100)):
                # The query itself: a session on a connection already checked out, own transaction.
                with Session(bind=conn) as session:
                    started = time.perf_counter()
                    level = stock_level(session, demo.org_id, item, site)
                    elapsed = time.perf_counter() - started
                if n >= 100:  # the first 100 warm the plan cache and buffers
                    in_session.append(elapsed)
                # As a request makes it: fresh session, pool checkout (with pre-ping) included.
                with session_factory() as session:
                    started = time.perf_counter()
                    stock_level(session, demo.org_id, item, site)
                    elapsed = time.perf_counter() - started
                if n >= 100:
                    per_request.append(elapsed)
                if level.on_hand <= 0:
                    note(f"unexpected empty balance for item {item} at site {site}")
        label = f"{plan.ledger_rows // 1_000_000}m" if plan.ledger_rows >= 1_000_000 else f"{plan.ledger_rows // 1000}k"
        figure(f"balance_lookup_p50_{label}_rows", percentile(in_session, 50) * 1000, "ms", 3)
        figure(f"balance_lookup_p95_{label}_rows", percentile(in_session, 95) * 1000, "ms", 3)
        figure(f"balance_lookup_p99_{label}_rows", percentile(in_session, 99) * 1000, "ms", 3)
        figure(f"balance_lookup_request_p50_{label}_rows", percentile(per_request, 50) * 1000, "ms", 3)
        figure(f"balance_lookup_request_p95_{label}_rows", percentile(per_request, 95) * 1000, "ms", 3)
        server_ms, plan_nodes = server_side_lookups(engine, session_factory, demo.org_id, rng.choices(pairs, k=200))
        note(f"stock_level plan: {' > '.join(plan_nodes)}")
        figure(f"balance_lookup_server_p95_{label}_rows", percentile(server_ms, 95), "ms", 3)

        clock = Stopwatch()
        with session_factory() as session:
            problems = ledger_matches_balances(session, demo.org_id) + no_forbidden_negatives(session, demo.org_id)
        for problem in problems[:5]:
            note(f"bulk ledger inconsistent: {problem}")
        figure("ledger_balances_match", int(not problems), "bool")
        figure("ledger_full_check_s", clock.seconds(), "s", 2)
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- main


#: The tables one farmer receipt writes (models.operations.receiving through the posting writer).
RECEIPT_TABLES = ("documents", "document_lines", "lots", "stock_moves", "vouchers", "voucher_lines",
                  "farmer_settlements", "outbox_events", "balances")


def drop_receipt_foreign_keys(url: str) -> int:
    """Drop every foreign key of RECEIPT_TABLES in the benchmark database ``url``; return how many.
    A what-if: each checked reference is a trigger, an index probe and a FOR KEY SHARE lock on the
    parent row (the same item, site and farmer rows for every client)."""
    with psycopg.connect(libpq_url(url), autocommit=True) as conn:
        found = conn.execute(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint WHERE contype = 'f'"
            " AND conrelid::regclass::text = ANY(%s)", (list(RECEIPT_TABLES),)).fetchall()
        for table_name, constraint in found:
            conn.execute(f'ALTER TABLE {table_name} DROP CONSTRAINT "{constraint}"')
    return len(found)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ledger", description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short windows and a 200k-row ledger (≈1 minute)")
    parser.add_argument("--only", action="append", choices=SECTIONS, help="run only this section (repeatable)")
    parser.add_argument("--keep", action="store_true", help="keep the benchmark databases afterwards")
    parser.add_argument("--without-foreign-keys", action="store_true",
                        help="what-if: drop the foreign keys of the tables a receipt writes in the receipts "
                             "database first (never the schema's shape: it shows what the checks cost)")
    parser.add_argument("--alone", action="store_true",
                        help="reference: each receipt in a transaction of its own (models.uow.run_alone), "
                             "as before concurrent receipts committed together")
    args = parser.parse_args(argv)
    global RUNNER
    RUNNER = run_alone if args.alone else run
    plan = QUICK if args.quick else FULL
    sections = set(args.only or SECTIONS)
    note(f"{'quick' if args.quick else 'full'} run against {make_url(PG_ADMIN_URL).render_as_string()}")
    total = Stopwatch()
    figure("host_loadavg_1m_start", os.getloadavg()[0], "load", 2)
    created: list[str] = []
    receipts_pg: dict[int, float] = {}
    receipts_multi: float | None = None
    pgbench_tps: float | None = None
    try:
        with tempfile.TemporaryDirectory(prefix="liuzhuan-bench-") as tmp:
            tmpdir = Path(tmp)
            if "receipts" in sections:
                url = fresh_migrated_postgres(DB_RECEIPTS)
                created.append(DB_RECEIPTS)
                if args.without_foreign_keys:
                    figure("receipt_foreign_keys_dropped", drop_receipt_foreign_keys(url), "constraints")
                probe = receipt_probe(url)
                figure("receipt_round_trips_pg", probe["round_trips"], "round trips")
                figure("receipt_protocol_messages_pg", probe["messages"], "messages")
                figure("receipt_sql_statements_pg", probe["statements"], "statements")
                figure("receipt_pool_checkouts_pg", probe["checkouts"], "connections")
                receipts_pg = bench_receipts(url, "pg", plan)
                receipts_multi = bench_receipts_processes(url, plan)
            if "pgbench" in sections:
                created.append(DB_PGBENCH)
                pgbench_tps = bench_pgbench(plan)
                busiest = max(plan.clients)
                if busiest in receipts_pg and busiest == plan.pgbench_clients:
                    figure(f"receipts_vs_pgbench_{busiest}clients", receipts_pg[busiest] / pgbench_tps, "ratio", 3)
                if receipts_multi is not None:
                    figure("receipts_vs_pgbench_16clients_4procs", receipts_multi / pgbench_tps, "ratio", 3)
            if "receipts" in sections:
                bench_receipts(fresh_migrated_sqlite(tmpdir, "receipts.db"), "sqlite", plan)
            if "race" in sections:
                for backend in plan.race_backends:
                    if backend == "pg":
                        created.append(DB_RACE)
                        race_url = fresh_migrated_postgres(DB_RACE)
                    else:
                        race_url = fresh_migrated_sqlite(tmpdir, "race.db")
                    bench_race(race_url, backend, plan)
            if "lookup" in sections:
                created.append(DB_LEDGER)
                bench_lookup(fresh_migrated_postgres(DB_LEDGER), plan)
    finally:
        if not args.keep:
            for name in created:
                drop_postgres_database(name)
    figure("host_loadavg_1m_end", os.getloadavg()[0], "load", 2)
    figure("bench_total_s", total.seconds(), "s")


if __name__ == "__main__":
    main()
