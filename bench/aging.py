"""Aging as of a day, and a party's statement, over a large book.

PostgreSQL: 5,000 customers and 1,000,000 voucher lines over two years, as a co-op's book has them:
sales of four lines (1122/6001 receivable and revenue, 6401/1405 cost), and for eight customer visits
in ten a payment 20 days later (1002/1122) matched to the visit's four sales; SQLite the same at a
tenth. The book is written in bulk (COPY on PostgreSQL), not through the operations: the figure is
the report. Then ``models.queries.receivables.aging`` runs as of
random days (by due date and by document date) and prints p50/p95, and each run checks that the
total equals the control balance.

    .venv/bin/python -m bench.aging [--db sqlite|postgres] [-n 20] [--lines N]
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from sqlalchemy import text

from bench.common import (
    database_arguments,
    figure,
    latency_figures,
    note,
    on_fresh_database,
    percentile,
)
from models.db import make_engine, make_session_factory
from models.demo import seed_demo
from models.finance import STILL_OPEN
from models.queries.receivables import aging, statement
from models.subledger import Side
from models.uow import run

START = date(2025, 1, 1)
DAYS = 700


@dataclass
class _Book:
    vouchers: list[tuple] = field(default_factory=list)
    lines: list[tuple] = field(default_factory=list)
    matches: list[tuple] = field(default_factory=list)


def _book(org_id: int, first_party: int, parties: int, lines: int, voucher0: int, line0: int, scale: int) -> _Book:
    """A co-op's book: per customer visit four sales (4 lines each: 1122/6001 and 6401/1405) and,
    for eight visits in ten, the customer's payment of all four 20 days later (1002/1122), matched
    to them. ``scale``: 100 stores fen as integers (SQLite), 1 stores yuan (PostgreSQL)."""
    book = _Book()
    blocks = lines // 18
    vid, lid = voucher0, line0
    closed: dict[int, date] = {}
    for k in range(blocks):
        party = first_party + k % parties
        day = START + timedelta(days=k * DAYS // blocks)
        charges = []
        for _sale in range(4):
            vid += 1
            cents = ((vid % 997) + 1) * 100
            book.vouchers.append((vid, org_id, f"B-{vid}", day.strftime("%Y%m"), day, "shipment.posted"))
            for account, debit, credit, who in (("1122", cents, 0, party), ("6001", 0, cents, None),
                                                ("6401", cents * 7 // 10, 0, None), ("1405", 0, cents * 7 // 10, None)):
                lid += 1
                book.lines.append((lid, org_id, vid, account, debit, credit, who, day))
            charges.append((lid - 3, cents))
        if k % 10 < 8 and day + timedelta(days=20) <= START + timedelta(days=DAYS):
            vid += 1
            paid_on = day + timedelta(days=20)
            total = sum(c for _l, c in charges)
            book.vouchers.append((vid, org_id, f"B-{vid}", paid_on.strftime("%Y%m"), paid_on, "money.received"))
            book.lines.append((lid + 1, org_id, vid, "1002", total, 0, None, paid_on))
            book.lines.append((lid + 2, org_id, vid, "1122", 0, total, party, paid_on))
            lid += 2
            book.matches += [(org_id, party, line, lid, cents, paid_on, day) for line, cents in charges]
            closed.update(dict.fromkeys([line for line, _c in charges] + [lid], paid_on))
    # Each line with the day it was settled (the payment's), as record_matches leaves it.
    book.lines = [(*row, closed.get(row[0], STILL_OPEN)) for row in book.lines]
    if scale == 1:  # yuan as Decimal for NUMERIC columns
        book.lines = [(a, b, c, d, Decimal(e) / 100, Decimal(f) / 100, g, h, i)
                      for a, b, c, d, e, f, g, h, i in book.lines]
        book.matches = [(a, b, c, d, Decimal(e) / 100, f, g) for a, b, c, d, e, f, g in book.matches]
    return book


def _customers(c, org_id: int, parties: int) -> int:
    rows = [{"org": org_id, "code": f"B{g}", "name": f"客户{g}", "days": (g % 4) * 15} for g in range(1, parties + 1)]
    c.execute(text("INSERT INTO parties (org_id, code, name, kind, active, created_at, credit_days) "
                   "VALUES (:org, :code, :name, 'CUSTOMER', true, CURRENT_TIMESTAMP, :days)"), rows)
    return c.execute(text("SELECT min(id) FROM parties WHERE org_id = :org AND code LIKE 'B%'"),
                     {"org": org_id}).scalar_one()


def _fill_postgres(engine, org_id: int, parties: int, lines: int) -> None:
    with engine.begin() as c:
        first = _customers(c, org_id, parties)
        v0 = c.execute(text("SELECT coalesce(max(id), 0) FROM vouchers")).scalar_one()
        l0 = c.execute(text("SELECT coalesce(max(id), 0) FROM voucher_lines")).scalar_one()
        book = _book(org_id, first, parties, lines, v0, l0, 1)
        cur = c.connection.driver_connection.cursor()
        with cur.copy("COPY vouchers (id, org_id, number, period, voucher_date, event, amounts, facts, status, "
                      "summary, created_at) FROM STDIN") as copy:
            for v in book.vouchers:
                copy.write_row((*v, "{}", "{}", "POSTED", "", "2025-01-01 00:00:00+00"))
        with cur.copy("COPY voucher_lines (id, org_id, voucher_id, account_code, debit, credit, party_id, "
                      "voucher_date, closed_on, line_no, memo) FROM STDIN") as copy:
            for row in book.lines:
                copy.write_row((*row, 1, ""))
        with cur.copy("COPY open_item_matches (org_id, party_id, charge_line_id, credit_line_id, amount, "
                      "matched_on, charge_on, account_code, created_at) FROM STDIN") as copy:
            for m in book.matches:
                copy.write_row((*m, "1122", "2025-01-01 00:00:00+00"))
        c.execute(text("SELECT setval('vouchers_id_seq', (SELECT max(id) FROM vouchers))"))
        c.execute(text("SELECT setval('voucher_lines_id_seq', (SELECT max(id) FROM voucher_lines))"))
    # As autovacuum leaves a table in steady use: statistics, and the visibility map that lets
    # aging read the covering index alone.
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE"))


def _fill_sqlite(engine, org_id: int, parties: int, lines: int) -> None:
    with engine.begin() as c:
        first = _customers(c, org_id, parties)
        cur = c.connection.driver_connection.cursor()
        v0 = cur.execute("SELECT coalesce(max(id), 0) FROM vouchers").fetchone()[0]
        l0 = cur.execute("SELECT coalesce(max(id), 0) FROM voucher_lines").fetchone()[0]
        book = _book(org_id, first, parties, lines, v0, l0, 100)
        cur.executemany(
            "INSERT INTO vouchers (id, org_id, number, period, voucher_date, event, amounts, facts, status, summary, "
            "created_at) VALUES (?, ?, ?, ?, ?, ?, '{}', '{}', 'POSTED', '', '2025-01-01 00:00:00.000000+00:00')",
            [(a, b, c_, d, e.isoformat(), f) for a, b, c_, d, e, f in book.vouchers])
        cur.executemany(
            "INSERT INTO voucher_lines (id, org_id, voucher_id, account_code, debit, credit, party_id, voucher_date, "
            "closed_on, line_no, memo) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 1, '')",
            [(*row[:7], row[7].isoformat(), row[8].isoformat()) for row in book.lines])
        cur.executemany(
            "INSERT INTO open_item_matches (org_id, party_id, charge_line_id, credit_line_id, amount, matched_on, "
            "charge_on, account_code, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, '1122', "
            "'2025-01-01 00:00:00.000000+00:00')",
            [(*m[:5], m[5].isoformat(), m[6].isoformat()) for m in book.matches])
        cur.execute("ANALYZE")


def _bench(url: str, db: str, rounds: int, lines: int) -> None:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    demo = run(factory, seed_demo, "bench-aging")
    parties = max(50, lines // 200)
    began = time.perf_counter()
    (_fill_postgres if db == "postgres" else _fill_sqlite)(engine, demo.org_id, parties, lines)
    note(f"{lines} voucher lines, {parties} customers written in {time.perf_counter() - began:.1f} s")
    rng = random.Random(11)
    days = [START + timedelta(days=rng.randrange(60, DAYS + 30)) for _ in range(rounds)]
    with factory() as s:
        aging(s, demo.org_id, Side.RECEIVABLE, days[0])  # warm: statement compiled, pages cached
        timings: dict[str, list[float]] = {"due": [], "document": []}
        rows = 0
        for day in days:
            for basis in ("due", "document"):
                t = time.perf_counter()
                report = aging(s, demo.org_id, Side.RECEIVABLE, day, basis)
                timings[basis].append((time.perf_counter() - t) * 1000)
                if not report.balanced:
                    raise SystemExit(f"aging {day} {basis}: total {report.total} != control {report.control_balance}")
                rows = max(rows, len(report.rows))
        party: int = s.execute(text("SELECT id FROM parties WHERE org_id = :o AND code = 'B7'"),
                          {"o": demo.org_id}).scalar_one()
        stmt_ms = []
        for day in days:
            t = time.perf_counter()
            statement(s, demo.org_id, party, Side.RECEIVABLE, day - timedelta(days=90), day)
            stmt_ms.append((time.perf_counter() - t) * 1000)
    note(f"up to {rows} customers per report")
    size = f"{lines // 1000}k"
    for basis, values in timings.items():
        latency_figures(f"aging_{basis}_{db}_{size}_lines", values)
    figure(f"statement_90_days_{db}_{size}_lines_p95", percentile(stmt_ms, 95), "ms")
    engine.dispose()


def main() -> None:
    parser = database_arguments(__doc__, 20, "days to age as of")
    parser.add_argument("--lines", type=int, default=0,
                        help="voucher lines (default 1,000,000 PostgreSQL, 100,000 SQLite)")
    args = parser.parse_args()
    size = args.lines or (1_000_000 if args.db == "postgres" else 100_000)
    on_fresh_database("aging", args.db, lambda url: _bench(url, args.db, args.n, size))


if __name__ == "__main__":
    main()
