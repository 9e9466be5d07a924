"""Issue 11's receipt prototype beside the real receipt path and pgbench, in one run.

Issue 11 sets receipts/s at 16 clients ≥ 0.3 × pgbench TPC-B tps, quoting a prototype that wrote
the same rows as a farmer receipt through SQLAlchemy Core in one psycopg pipeline. This rebuilds
that prototype and measures it, the real path (``receive_goods`` through ``models.uow.run``) and
pgbench (before and after the receipts; the ratios use the mean) against the same server in the
same run, so the ratios share the same noise::

    .venv/bin/python -m bench.receipt_prototype            # 2 s warm-up, 10 s windows (~2.5 minutes)
    .venv/bin/python -m bench.receipt_prototype --quick    # 1 s / 3 s windows

The prototype writes what one real farmer receipt writes on PostgreSQL (listed from a real one:
document and line, lot, balance, stock move, voucher and two lines, farmer settlement, outbox
event; the two numbers from ``models.number_blocks`` as the real path takes them), copying every
value from a receipt the real operation posted at the start, so only the path differs. Each
receipt is one transaction sent as one pipeline (BEGIN … COMMIT, one round trip): children find
their parents' ids with ``currval`` of the parents' sequences on the same connection. Statements
are built with SQLAlchemy Core and compiled once; the per-receipt Python is two numbers, a clock
reading, two UUIDs and the parameter dicts. Figures go to stdout as ``name: value unit``.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import multiprocessing
import os
import re
import sys
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from psycopg.types.json import Json
from sqlalchemy import JSON, Table, bindparam, cast, func, insert, literal_column
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql.psycopg import PGDialect_psycopg
from sqlalchemy.orm import Session, sessionmaker

from bench.common import drop_postgres_database, figure, fresh_migrated_postgres, libpq_url, note
from bench.ledger import (
    DB_PGBENCH,
    FULL,
    QUICK,
    Plan,
    Throughput,
    bench_pgbench,
    bench_receipts_processes,
    farmer_receipts,
    invariants_ok,
    new_demo,
    receipt_probe,
    round_trips,
    run_clients,
)
from models import number_blocks
from models.actor import Actor
from models.base import Base
from models.db import make_engine, make_session_factory
from models.demo import DemoOrg
from models.operations import ReceiveGoods, receive_goods
from models.uow import run

DB_PROTOTYPE = "liuzhuan_bench_prototype"

#: The tables one farmer receipt writes (besides the number counters), parents first.
TABLES = ("documents", "lots", "document_lines", "balances", "stock_moves", "vouchers", "voucher_lines",
          "farmer_settlements", "outbox_events")
#: Columns that point at a row written earlier in the same receipt: (table, column) -> parent table.
PARENTS = {
    ("document_lines", "document_id"): "documents", ("document_lines", "lot_id"): "lots",
    ("balances", "lot_id"): "lots",
    ("stock_moves", "document_id"): "documents", ("stock_moves", "lot_id"): "lots",
    ("vouchers", "document_id"): "documents",
    ("voucher_lines", "voucher_id"): "vouchers", ("voucher_lines", "document_id"): "documents",
    ("farmer_settlements", "receipt_id"): "documents", ("farmer_settlements", "lot_id"): "lots",
    ("outbox_events", "document_id"): "documents",
}
#: Columns set per receipt rather than copied from the template receipt.
FRESH = {"id", "created_at", "business_time", "recorded_at", "number", "code"}


@dataclass(frozen=True)
class Template:
    """One real receipt's rows (table -> list of column dicts) and what its numbers look like."""

    org_id: int
    rows: dict[str, list[dict[str, Any]]]
    doc_series: str  # e.g. RK-SX, period 20261205
    doc_period: str
    voucher_period: str


def _sequence_of(conn: psycopg.Connection, table: str) -> str:
    row = conn.execute("SELECT pg_get_serial_sequence(%s, 'id')", (table,)).fetchone()
    if row is None or row[0] is None:
        raise RuntimeError(f"{table}.id has no sequence")
    return str(row[0])


def read_template(url: str, org_id: int) -> Template:
    """The rows of the org's last receipt, as the real operation wrote them."""
    with psycopg.connect(libpq_url(url)) as conn:
        doc = conn.execute("SELECT max(id) FROM documents WHERE org_id = %s AND kind = 'RECEIPT'",
                           (org_id,)).fetchone()
        assert doc is not None and doc[0] is not None, "no receipt to copy"
        doc_id = doc[0]
        wheres = {
            "documents": "id = %(d)s", "document_lines": "document_id = %(d)s",
            "lots": "id = (SELECT lot_id FROM document_lines WHERE document_id = %(d)s)",
            "balances": "lot_id = (SELECT lot_id FROM document_lines WHERE document_id = %(d)s)",
            "stock_moves": "document_id = %(d)s", "vouchers": "document_id = %(d)s",
            "voucher_lines": "voucher_id = (SELECT id FROM vouchers WHERE document_id = %(d)s) ORDER BY line_no",
            "farmer_settlements": "receipt_id = %(d)s", "outbox_events": "document_id = %(d)s",
        }
        rows: dict[str, list[dict[str, Any]]] = {}
        for table in TABLES:
            cur = conn.execute(f"SELECT * FROM {table} WHERE {wheres[table]}", {"d": doc_id})
            names = [d.name for d in cur.description or ()]
            rows[table] = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
            if not rows[table]:
                raise RuntimeError(f"the template receipt wrote no {table} row")
    number = rows["documents"][0]["number"]  # RK-SX-20261205-0002
    series, period, _ = number.rsplit("-", 2)
    return Template(org_id, rows, series, period, rows["vouchers"][0]["period"])


def _compile(table: Table, columns: list[str], sequences: dict[str, str]) -> str:
    """INSERT of ``columns`` (``id`` from its sequence; nothing returned), parents' ids by currval, as psycopg SQL."""

    def currval(parent: str) -> Any:
        return literal_column(f"currval('{sequences[parent]}')")

    computed: dict[str, Any] = {}
    for column in columns:
        parent = PARENTS.get((table.name, column))
        if parent is not None:
            computed[column] = currval(parent)
        elif table.name == "outbox_events" and column == "payload":
            # The payload names the document and lot, whose ids the server has just given.
            computed[column] = cast(cast(bindparam("payload_in"), JSONB).op("||")(func.jsonb_build_object(
                literal_column("'document_id'"), currval("documents"),
                literal_column("'lot_id'"), currval("lots"))), JSON)
    plain = [c for c in columns if c not in computed]
    compiled = insert(table).values(computed).inline().compile(dialect=PGDialect_psycopg(), column_keys=plain)
    return str(compiled)


class Prototype:
    """Posts the template receipt again and again on raw psycopg connections (see :class:`Client`)."""

    def __init__(self, url: str, template: Template) -> None:
        self.url, self.t = url, template
        with psycopg.connect(libpq_url(url)) as conn:
            serial = {t: _sequence_of(conn, t) for t in TABLES if isinstance(template.rows[t][0]["id"], int)}
        metadata = Base.metadata
        self.statements: list[tuple[str, str, list[dict[str, Any]]]] = []  # (table, sql, template rows)
        for table in TABLES:
            sample = template.rows[table][0]
            # Integer ids come from the sequence; UUID ids (moves, events) are made here like the real path.
            columns = [c for c in sample if not (c == "id" and table in serial)]
            self.statements.append((table, _compile(metadata.tables[table], columns, serial), [
                {k: v for k, v in row.items() if k in columns and (table, k) not in PARENTS}
                for row in template.rows[table]]))
        self.payload = dict(template.rows["outbox_events"][0]["payload"])
        self.payload.pop("document_id", None)
        self.payload.pop("lot_id", None)
        self.summary_tail = template.rows["vouchers"][0]["summary"].split(" ", 1)[1]
        self.voucher_prefix, _, last = template.rows["vouchers"][0]["number"].rpartition("-")
        self.voucher_width = len(last)
        self.doc_width = len(template.rows["documents"][0]["number"].rsplit("-", 1)[1])
        self.lot_prefix = template.rows["lots"][0]["code"].rsplit("-", 1)[0]

    def connect(self) -> Client:
        return Client(self.url)

    def post(self, client: Client) -> None:
        """One receipt: two numbers (from this process's blocks), then one transaction, one pipeline."""
        t = self.t
        doc_no = number_blocks.take(self.url, t.org_id, t.doc_series, t.doc_period)
        voucher_no = number_blocks.take(self.url, t.org_id, "voucher", t.voucher_period)
        number = f"{t.doc_series}-{t.doc_period}-{doc_no:0{self.doc_width}d}"
        now = datetime.now(UTC)
        fresh: dict[str, dict[str, Any]] = {
            "documents": {"number": number, "business_time": now, "created_at": now},
            "lots": {"code": f"{self.lot_prefix}-{doc_no:0{self.doc_width}d}", "created_at": now},
            "stock_moves": {"id": uuid.uuid4(), "business_time": now, "recorded_at": now},
            "vouchers": {"number": f"{self.voucher_prefix}-{voucher_no:0{self.voucher_width}d}",
                         "summary": f"{number} {self.summary_tail}", "created_at": now},
            "farmer_settlements": {"created_at": now},
            "outbox_events": {"id": uuid.uuid4(), "created_at": now,
                              "payload_in": Json({**self.payload, "number": number})},
        }
        cur = client.cursor
        try:
            cur.execute("BEGIN")
            for table, sql, rows in self.statements:
                extra = fresh.get(table, {})
                params = [_adapt({**row, **extra}) for row in rows]
                if len(params) == 1:
                    cur.execute(sql, params[0])
                else:
                    cur.executemany(sql, params)
            cur.execute("COMMIT")
            client.pipeline.sync()  # the one round trip: everything above, then wait for its answers
        except BaseException:
            with contextlib.suppress(psycopg.Error):
                cur.execute("ROLLBACK")
                client.pipeline.sync()
            raise


class Client:
    """An autocommit connection kept in pipeline mode: the receipt says BEGIN and COMMIT itself, so
    psycopg neither waits for its own BEGIN nor syncs again when a pipeline block ends."""

    def __init__(self, url: str) -> None:
        self.conn = psycopg.connect(libpq_url(url), autocommit=True)
        self._stack = contextlib.ExitStack()
        self.pipeline = self._stack.enter_context(self.conn.pipeline())
        self.cursor = self.conn.cursor()

    def close(self) -> None:
        self._stack.close()
        self.conn.close()


def _adapt(row: dict[str, Any]) -> dict[str, Any]:
    """JSON columns read back as dicts go out as JSON (the payload is already wrapped)."""
    return {k: Json(v) if isinstance(v, dict | list) else v for k, v in row.items()}


def prototype_round_trips(proto: Prototype) -> int:
    """Round trips of one warm prototype receipt in a libpq trace (as bench.ledger counts the real one's)."""
    client = proto.connect()
    try:
        with tempfile.NamedTemporaryFile(prefix="proto-trace-", suffix=".txt") as trace:
            proto.post(client)  # warm: this process's number blocks
            pgconn = client.conn.pgconn
            pgconn.trace(trace.fileno())
            pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)
            proto.post(client)
            pgconn.untrace()
            return round_trips(Path(trace.name).read_text(errors="replace"))[0]
    finally:
        client.close()


# --------------------------------------------------------------------------- runs


def prototype_threads(proto: Prototype, clients: int, plan: Plan) -> Throughput:
    conns = [proto.connect() for _ in range(clients)]
    try:
        return run_clients(clients, plan.warmup_s, plan.duration_s, lambda c, _n: proto.post(conns[c]))
    finally:
        for client in conns:
            client.close()


def _prototype_process(proto: Prototype, clients: int, plan: Plan, out: Any) -> None:
    # The parent dropped its number blocks before forking (no two children may hand out the same
    # numbers); number_blocks keys its side pool by process id, so each child opens its own.
    result = prototype_threads(proto, clients, plan)
    out.put(result)


def prototype_processes(proto: Prototype, plan: Plan, clients: int = 16, processes: int = 4) -> Throughput:
    """``clients`` threads spread over ``processes`` forked processes, as bench.ledger runs the real path."""
    ctx = multiprocessing.get_context("fork")
    out: Any = ctx.Queue()
    procs = [ctx.Process(target=_prototype_process, args=(proto, clients // processes, plan, out))
             for _ in range(processes)]
    for proc in procs:
        proc.start()
    results: list[Throughput] = [out.get(timeout=plan.warmup_s + plan.duration_s + 120) for _ in procs]
    for proc in procs:
        proc.join()
    total = sum(r.ops_per_s for r in results)
    client_cpu = sum(r.cpu_ms_per_op * r.ops_per_s for r in results) / total if total else float("nan")
    return Throughput(total, max(r.p50_ms for r in results), max(r.p95_ms for r in results),
                      sum(r.failed for r in results), client_cpu)


def real_threads(session_factory: sessionmaker[Session], actor: Actor, cmd: ReceiveGoods, clients: int,
                 plan: Plan) -> Throughput:
    def work(_client: int, _n: int) -> None:
        run(session_factory, receive_goods, actor, cmd)

    return run_clients(clients, plan.warmup_s, plan.duration_s, work)


def report(prefix: str, suffix: str, result: Throughput, *, server: bool = True) -> None:
    figure(f"{prefix}_receipts_per_s_{suffix}", result.ops_per_s, "ops/s")
    figure(f"{prefix}_receipt_latency_p95_{suffix}", result.p95_ms, "ms", 2)
    figure(f"{prefix}_receipt_client_cpu_per_op_{suffix}", result.cpu_ms_per_op, "ms", 3)
    if server:
        figure(f"{prefix}_receipt_server_cpu_per_op_{suffix}", result.server_cpu_ms_per_op, "ms", 3)
    figure(f"{prefix}_receipts_failed_{suffix}", result.failed, "ops")


def pgbench_run(plan: Plan) -> tuple[float, float]:
    """bench.ledger's pgbench run: (TPC-B tps, server CPU ms per transaction); its figures kept off stdout."""
    note("pgbench")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        tps = bench_pgbench(plan)
    per_tx = re.search(r"^pgbench_server_cpu_per_tx: ([0-9.]+)", printed.getvalue(), re.MULTILINE)
    return tps, float(per_tx.group(1)) if per_tx else float("nan")


def fresh_org(session_factory: sessionmaker[Session], label: str) -> tuple[DemoOrg, Actor, ReceiveGoods]:
    demo, actors = new_demo(session_factory, label)
    return demo, actors["小周"], farmer_receipts(demo)[0]  # 王阿姨 23.5 斤 特级 at 绍兴


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.receipt_prototype",
                                     description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1 s warm-up, 3 s windows")
    args = parser.parse_args(argv)
    plan = replace(QUICK if args.quick else FULL, clients=(1, 16))
    figure("host_loadavg_1m_start", os.getloadavg()[0], "load", 2)
    url = fresh_migrated_postgres(DB_PROTOTYPE)
    engine = make_engine(url)
    try:
        sf = make_session_factory(engine)
        results: dict[str, Throughput] = {}
        orgs: dict[str, int] = {}

        def proto_for(label: str) -> Prototype:
            # A fresh org per run, its template a receipt the real operation posted (twice: the
            # first of a day also creates the number counters).
            demo, clerk, cmd = fresh_org(sf, label)
            run(sf, receive_goods, clerk, cmd)
            run(sf, receive_goods, clerk, cmd)
            orgs[label] = demo.org_id
            return Prototype(url, read_template(url, demo.org_id))

        probe = receipt_probe(url)
        figure("real_receipt_round_trips", probe["round_trips"], "round trips")
        figure("prototype_receipt_round_trips", prototype_round_trips(proto_for("probe")), "round trips")

        tps_before, per_tx_before = pgbench_run(plan)

        steps: list[tuple[str, Callable[[], Throughput]]] = []
        for clients in plan.clients:
            suffix = f"{clients}client{'s' if clients > 1 else ''}"

            def proto_step(clients: int = clients, suffix: str = suffix) -> Throughput:
                return prototype_threads(proto_for(f"proto{suffix}"), clients, plan)

            def real_step(clients: int = clients, suffix: str = suffix) -> Throughput:
                demo, clerk, cmd = fresh_org(sf, f"real{suffix}")
                orgs[f"real{suffix}"] = demo.org_id
                return real_threads(sf, clerk, cmd, clients, plan)

            steps += [(f"prototype {suffix}", proto_step), (f"real {suffix}", real_step)]
        for name, step in steps:
            note(f"{name}: {plan.warmup_s:g} s warm-up, {plan.duration_s:g} s window")
            results[name] = step()

        note("prototype 16 clients in 4 processes")
        engine.dispose()  # no pooled connection may cross the fork
        proto4 = proto_for("proto16x4")
        engine.dispose()
        number_blocks.forget()  # blocks and side pool: none may cross the fork
        results["prototype 16clients_4procs"] = prototype_processes(proto4, plan)
        with contextlib.redirect_stdout(sys.stderr):  # bench.ledger's own figures: diagnostics here
            real4 = bench_receipts_processes(url, plan)
        tps_after, per_tx_after = pgbench_run(plan)
        # pgbench brackets the receipts: the load of a shared host drifts within a run, and the
        # ratios below take the mean of both, so neither end of the run weighs more.
        tps = (tps_before + tps_after) / 2
        figure("pgbench_tpcb_tps_16clients_before", tps_before, "tps")
        figure("pgbench_tpcb_tps_16clients_after", tps_after, "tps")
        figure("pgbench_tpcb_tps_16clients", tps, "tps")
        per_tx = (per_tx_before + per_tx_after) / 2
        figure("pgbench_server_cpu_per_tx", per_tx, "ms", 3)

        for name, result in results.items():
            who, suffix = name.split(" ", 1)
            report(who, suffix, result, server="procs" not in suffix)
        figure("real_receipts_per_s_16clients_4procs", real4, "ops/s")
        proto16 = results["prototype 16clients"].ops_per_s
        proto16x4 = results["prototype 16clients_4procs"].ops_per_s
        real16 = results["real 16clients"].ops_per_s
        figure("prototype_vs_pgbench_16clients", proto16 / tps, "ratio", 3)
        figure("prototype_vs_pgbench_16clients_4procs", proto16x4 / tps, "ratio", 3)
        figure("real_vs_pgbench_16clients", real16 / tps, "ratio", 3)
        figure("real_vs_pgbench_16clients_4procs", real4 / tps, "ratio", 3)
        figure("real_vs_prototype_16clients", real16 / proto16, "ratio", 3)
        figure("real_vs_prototype_16clients_4procs", real4 / proto16x4, "ratio", 3)
        # The ceilings bench.ledger prints, for both paths at 16 threads: TPC-B's server CPU per
        # transaction over a receipt's (the ratio if the client cost nothing), and cores over
        # client + server CPU per receipt, over pgbench's tps (the ratio this machine allows).
        cores = os.cpu_count() or 1
        for who in ("prototype", "real"):
            result = results[f"{who} 16clients"]
            figure(f"{who}_vs_pgbench_server_cpu_ceiling_16clients", per_tx / result.server_cpu_ms_per_op,
                   "ratio", 3)
            figure(f"{who}_vs_pgbench_machine_cpu_ceiling_16clients",
                   cores / (result.cpu_ms_per_op + result.server_cpu_ms_per_op) * 1000 / tps, "ratio", 3)
        for label, org_id in orgs.items():
            if label.startswith("proto"):
                figure(f"prototype_invariants_ok_{label[5:]}", int(invariants_ok(sf, org_id)), "bool")
    finally:
        engine.dispose()
        number_blocks.forget(url)
        drop_postgres_database(DB_PROTOTYPE)
        drop_postgres_database(DB_PGBENCH)
    figure("host_loadavg_1m_end", os.getloadavg()[0], "load", 2)


if __name__ == "__main__":
    main()
