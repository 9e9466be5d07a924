"""The VAT summary of a month over a large book.

PostgreSQL: twelve months of 40,000 receipts and shipments each (480,000 documents, one line each,
at 13 %, 9 %, 3 % or 0), each with its voucher's tax line on 222101/222102 and the counter line
(about 1,000,000 voucher lines), over 5,000 parties; SQLite the same at a tenth. The book is written
in bulk (COPY on PostgreSQL), not through the operations: the figure is the report. Then
``models.queries.vat.vat_summary`` runs for random months and prints p50/p95; each run checks that
the documents' taxes equal the books' (``balanced``).

    .venv/bin/python -m bench.vat [--db sqlite|postgres] [-n 12] [--per-month N]
"""

from __future__ import annotations

import random
import time
from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import text

from bench.common import (
    database_arguments,
    latency_figures,
    note,
    on_fresh_database,
)
from models.actor import Actor
from models.db import make_engine, make_session_factory
from models.demo import seed_demo
from models.queries.vat import vat_summary
from models.uow import run

MONTHS = [f"2025{m:02d}" for m in range(1, 13)]
RATES = (Decimal("0.13"), Decimal("0.09"), Decimal("0.03"), Decimal(0))


def _parties(c, org_id: int, parties: int) -> int:
    rows = [{"org": org_id, "code": f"V{g}", "name": f"往来{g}", "kind": "CUSTOMER" if g % 2 else "SUPPLIER"}
            for g in range(1, parties + 1)]
    c.execute(text("INSERT INTO parties (org_id, code, name, kind, active, created_at, credit_days) "
                   "VALUES (:org, :code, :name, :kind, true, CURRENT_TIMESTAMP, 0)"), rows)
    return c.execute(text("SELECT min(id) FROM parties WHERE org_id = :org AND code LIKE 'V%'"),
                     {"org": org_id}).scalar_one()


def _book(org_id: int, item_id: int, first_party: int, parties: int, per_month: int, d0: int, v0: int, l0: int):
    """Rows (documents, document lines, vouchers, voucher lines) in plain values: yuan as Decimal."""
    docs, doc_lines, vouchers, lines = [], [], [], []
    did, vid, lid = d0, v0, l0
    for month in MONTHS:
        year, mon = int(month[:4]), int(month[4:])
        for k in range(per_month):
            did, vid = did + 1, vid + 1
            sale = k % 2 == 0
            when = datetime(year, mon, 1 + k % 28, 2 + k % 12, tzinfo=UTC)
            amount = Decimal((did % 9973) + 100) / 100 * 10
            rate = RATES[k % len(RATES)]
            tax = (amount * rate).quantize(Decimal("0.01"))
            party = first_party + (2 * (k // 2) + (0 if sale else 1)) % parties
            kind = "SHIPMENT" if sale else "RECEIPT"
            docs.append((did, org_id, kind, f"{'CK' if sale else 'RK'}-B-{did}", when, party, amount + tax, tax,
                         f"{did:08d}" if k % 3 else None))
            doc_lines.append((org_id, did, item_id, amount, rate, tax))
            vouchers.append((vid, org_id, f"B-{vid}", month, when.date(), "shipment.posted" if sale else
                             "receipt.posted", did))
            tax_account, counter = ("222102", "1122") if sale else ("222101", "2202")
            if tax:
                lid += 1
                lines.append((lid, org_id, vid, tax_account, Decimal(0) if sale else tax, tax if sale else Decimal(0),
                               None, when.date(), did))
            lid += 1
            lines.append((lid, org_id, vid, counter, tax if sale else Decimal(0), Decimal(0) if sale else tax, party,
                          when.date(), did))  # a line carries its voucher's document, as the writers set it
    return docs, doc_lines, vouchers, lines


def _start(c, org_id: int) -> tuple[int, int, int, int]:
    first = c.execute(text("SELECT coalesce(max(id), 0) FROM documents")).scalar_one()
    return (first, c.execute(text("SELECT coalesce(max(id), 0) FROM vouchers")).scalar_one(),
            c.execute(text("SELECT coalesce(max(id), 0) FROM voucher_lines")).scalar_one(),
            c.execute(text("SELECT id FROM items WHERE org_id = :o ORDER BY id LIMIT 1"), {"o": org_id}).scalar_one())


def _fill_postgres(engine, org_id: int, parties: int, per_month: int) -> None:
    with engine.begin() as c:
        first = _parties(c, org_id, parties)
        d0, v0, l0, item = _start(c, org_id)
        docs, doc_lines, vouchers, lines = _book(org_id, item, first, parties, per_month, d0, v0, l0)
        cur = c.connection.driver_connection.cursor()
        with cur.copy("COPY documents (id, org_id, kind, number, business_time, party_id, total_amount, tax_amount, "
                      "invoice_number, status, urgent, note, extra, created_at) FROM STDIN") as copy:
            for d in docs:
                copy.write_row((*d, "POSTED", False, "", "{}", "2025-01-01 00:00:00+00"))
        with cur.copy("COPY document_lines (org_id, document_id, item_id, amount, tax_rate, tax_amount, line_no, "
                      "quantity, unit_price, done_quantity) FROM STDIN") as copy:
            for row in doc_lines:
                copy.write_row((*row, 1, 1, row[3], 1))
        with cur.copy("COPY vouchers (id, org_id, number, period, voucher_date, event, document_id, amounts, facts, "
                      "status, summary, created_at) FROM STDIN") as copy:
            for v in vouchers:
                copy.write_row((*v, "{}", "{}", "POSTED", "", "2025-01-01 00:00:00+00"))
        with cur.copy("COPY voucher_lines (id, org_id, voucher_id, account_code, debit, credit, party_id, "
                      "voucher_date, document_id, line_no, memo) FROM STDIN") as copy:
            for row in lines:
                copy.write_row((*row, 1, ""))
        for table in ("documents", "vouchers", "voucher_lines"):
            c.execute(text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE"))


def _fill_sqlite(engine, org_id: int, parties: int, per_month: int) -> None:
    def fen(v: Decimal) -> int:
        return int(v * 100)

    with engine.begin() as c:
        first = _parties(c, org_id, parties)
        d0, v0, l0, item = _start(c, org_id)
        docs, doc_lines, vouchers, lines = _book(org_id, item, first, parties, per_month, d0, v0, l0)
        cur = c.connection.driver_connection.cursor()
        cur.executemany(
            "INSERT INTO documents (id, org_id, kind, number, business_time, party_id, total_amount, tax_amount, "
            "invoice_number, status, urgent, note, extra, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'POSTED', 0, "
            "'', '{}', '2025-01-01 00:00:00.000000')",
            [(a, b, k, n, w.strftime("%Y-%m-%d %H:%M:%S.%f"), p, fen(t), fen(x), i)
             for a, b, k, n, w, p, t, x, i in docs])
        cur.executemany(
            "INSERT INTO document_lines (org_id, document_id, item_id, amount, tax_rate, tax_amount, line_no, "
            "quantity, unit_price, done_quantity) VALUES (?, ?, ?, ?, ?, ?, 1, 1000000, ?, 1000000)",
            [(o, d, i, fen(a), int(r * 10000), fen(t), int(a * 1000000)) for o, d, i, a, r, t in doc_lines])
        cur.executemany(
            "INSERT INTO vouchers (id, org_id, number, period, voucher_date, event, document_id, amounts, facts, "
            "status, summary, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, '{}', '{}', 'POSTED', '', "
            "'2025-01-01 00:00:00.000000')",
            [(a, b, n, p, d.isoformat(), e, doc) for a, b, n, p, d, e, doc in vouchers])
        cur.executemany(
            "INSERT INTO voucher_lines (id, org_id, voucher_id, account_code, debit, credit, party_id, voucher_date, "
            "document_id, line_no, memo) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, '')",
            [(a, b, v, code, fen(d), fen(cr), p, day.isoformat(), doc) for a, b, v, code, d, cr, p, day, doc in lines])
        cur.execute("ANALYZE")


def _bench(url: str, db: str, rounds: int, per_month: int) -> None:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    demo = run(factory, seed_demo, "bench-vat")
    parties = max(50, per_month // 8)
    began = time.perf_counter()
    (_fill_postgres if db == "postgres" else _fill_sqlite)(engine, demo.org_id, parties, per_month)
    note(f"{per_month * len(MONTHS)} documents, {parties} parties written in {time.perf_counter() - began:.1f} s")
    rng = random.Random(7)
    actor = Actor.system_actor(demo.org_id)
    periods = [rng.choice(MONTHS) for _ in range(rounds)]
    timings = []
    with factory() as s:
        vat_summary(s, actor, periods[0])  # warm
        for period in periods:
            t = time.perf_counter()
            summary = vat_summary(s, actor, period)
            timings.append((time.perf_counter() - t) * 1000)
            if not summary.balanced:
                raise SystemExit(f"{period}: documents {summary.output_tax}/{summary.input_tax} != books "
                                 f"{summary.output_tax_booked}/{summary.input_tax_booked}")
        lines = s.execute(text("SELECT count(*) FROM voucher_lines")).scalar_one()
    note(f"{lines} voucher lines; last summary: payable {summary.tax_payable}, {len(summary.rates)} rates")
    size = f"{per_month // 1000}k"
    latency_figures(f"vat_summary_{db}_{size}_docs_per_month", timings)
    engine.dispose()


def main() -> None:
    parser = database_arguments(__doc__, 12, "months to summarise")
    parser.add_argument("--per-month", type=int, default=0,
                        help="documents per month (default 40,000 PostgreSQL, 4,000 SQLite)")
    args = parser.parse_args()
    size = args.per_month or (40_000 if args.db == "postgres" else 4_000)
    on_fresh_database("vat", args.db, lambda url: _bench(url, args.db, args.n, size))


if __name__ == "__main__":
    main()
