"""The 72-hour cash forecast over a large book.

The book is bench.aging's (5,000 customers and 1,000,000 voucher lines over two years on PostgreSQL, a
tenth on SQLite: sales, and for eight visits in ten a bank receipt 20 days later matched to them), plus
a payable side of a tenth of its size: 500 suppliers (a tenth of the customers) with purchases (1405 /
2202) of which eight in ten are paid from the bank and matched. Written in bulk, not through the
operations: the figure is the report. Then ``models.queries.cash_forecast.cash_forecast`` runs from
random hours of the book's last ten days, as "now" (72 hours, and a week), and each run checks that
the projection adds up. Two in ten purchases are never paid, so thousands of overdue payables go into
the first hour (prudence) and are listed one by one: a harsher book than a co-op's.

    .venv/bin/python -m bench.cash [--db sqlite|postgres] [-n 20] [--lines N]
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import Engine, text

from bench.aging import DAYS, START, _fill_postgres, _fill_sqlite
from bench.common import (
    database_arguments,
    latency_figures,
    note,
    on_fresh_database,
)
from models.db import make_engine, make_session_factory
from models.demo import seed_demo
from models.queries.cash_forecast import cash_forecast
from models.timeutil import SHANGHAI
from models.uow import run


def _payables(engine: Engine, db: str, org_id: int, suppliers: int, lines: int) -> None:
    """Purchases (1405/2202) from ``suppliers`` suppliers with 30 days' credit; eight in ten paid
    (2202/1002) 25 days later and matched."""
    scale = 100 if db == "sqlite" else 1
    with engine.begin() as c:
        c.execute(text("INSERT INTO parties (org_id, code, name, kind, active, created_at, credit_days) "
                       "VALUES (:org, :code, :name, 'SUPPLIER', true, CURRENT_TIMESTAMP, 30)"),
                  [{"org": org_id, "code": f"S{g}", "name": f"供应商{g}"} for g in range(1, suppliers + 1)])
        first = c.execute(text("SELECT min(id) FROM parties WHERE org_id = :org AND code LIKE 'S%'"),
                          {"org": org_id}).scalar_one()
        vid = c.execute(text("SELECT coalesce(max(id), 0) FROM vouchers")).scalar_one()
        lid = c.execute(text("SELECT coalesce(max(id), 0) FROM voucher_lines")).scalar_one()
        vouchers, rows, matches = [], [], []
        for k in range(lines // 4):
            party = first + k % suppliers
            day = START + timedelta(days=k * DAYS // (lines // 4))
            cents = ((k % 991) + 1) * 1000
            vid += 1
            vouchers.append((vid, org_id, f"P-{vid}", day.strftime("%Y%m"), day, "receipt.posted"))
            rows += [(lid + 1, org_id, vid, "1405", cents, 0, None, day), (lid + 2, org_id, vid, "2202", 0, cents,
                                                                            party, day)]
            lid += 2
            paid_on = day + timedelta(days=25)
            if k % 10 < 8 and paid_on <= START + timedelta(days=DAYS):
                vid += 1
                vouchers.append((vid, org_id, f"P-{vid}", paid_on.strftime("%Y%m"), paid_on, "money.paid"))
                rows += [(lid + 1, org_id, vid, "2202", cents, 0, party, paid_on),
                         (lid + 2, org_id, vid, "1002", 0, cents, None, paid_on)]
                matches.append((org_id, party, lid, lid + 1, cents, paid_on, day))  # purchase 2202 ← payment 2202
                lid += 2
        if scale == 1:
            rows = [(*r[:4], Decimal(r[4]) / 100, Decimal(r[5]) / 100, *r[6:]) for r in rows]
            matches = [(*m[:4], Decimal(m[4]) / 100, *m[5:]) for m in matches]
        c.execute(text("INSERT INTO vouchers (id, org_id, number, period, voucher_date, event, amounts, facts, status, "
                       "summary, created_at) VALUES (:id, :org, :no, :period, :day, :event, '{}', '{}', 'POSTED', '', "
                       "CURRENT_TIMESTAMP)"),
                  [{"id": v[0], "org": v[1], "no": v[2], "period": v[3], "day": v[4], "event": v[5]} for v in vouchers])
        c.execute(text("INSERT INTO voucher_lines (id, org_id, voucher_id, account_code, debit, credit, party_id, "
                       "voucher_date, line_no, memo) VALUES (:id, :org, :v, :acc, :dr, :cr, :party, :day, 1, '')"),
                  [{"id": r[0], "org": r[1], "v": r[2], "acc": r[3], "dr": r[4], "cr": r[5], "party": r[6],
                    "day": r[7]} for r in rows])
        c.execute(text("INSERT INTO open_item_matches (org_id, party_id, charge_line_id, credit_line_id, amount, "
                       "matched_on, charge_on, account_code, created_at) VALUES (:org, :party, :charge, :credit, "
                       ":amount, :on, :charge_on, '2202', CURRENT_TIMESTAMP)"),
                  [{"org": m[0], "party": m[1], "charge": m[2], "credit": m[3], "amount": m[4], "on": m[5],
                    "charge_on": m[6]} for m in matches])
        if db == "postgres":
            c.execute(text("SELECT setval('vouchers_id_seq', (SELECT max(id) FROM vouchers))"))
            c.execute(text("SELECT setval('voucher_lines_id_seq', (SELECT max(id) FROM voucher_lines))"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE" if db == "postgres" else "ANALYZE"))


def _bench(url: str, db: str, rounds: int, lines: int) -> None:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    demo = run(factory, seed_demo, "bench-cash")
    customers = max(50, lines // 200)
    began = time.perf_counter()
    (_fill_postgres if db == "postgres" else _fill_sqlite)(engine, demo.org_id, customers, lines)
    _payables(engine, db, demo.org_id, max(5, customers // 10), lines // 10)
    note(f"{lines} + {lines // 10} voucher lines, {customers} customers, {max(5, customers // 10)} suppliers "
         f"written in {time.perf_counter() - began:.1f} s")
    rng = random.Random(7)
    # A forecast is made "now": from hours in the book's last ten days (nothing is dated after them).
    starts = [datetime.combine(START + timedelta(days=rng.randrange(DAYS - 10, DAYS)), datetime.min.time(), SHANGHAI)
              + timedelta(hours=rng.randrange(24)) for _ in range(rounds)]
    timings: dict[int, list[float]] = {72: [], 168: []}
    items = late = 0
    with factory() as s:
        cash_forecast(s, demo.org_id, starts[0])  # warm: statements compiled, pages cached
        for start in starts:
            for hours in timings:
                t = time.perf_counter()
                f = cash_forecast(s, demo.org_id, start, hours)
                timings[hours].append((time.perf_counter() - t) * 1000)
                if f.closing != f.opening + f.inflow - f.outflow or f.closing != f.by_hour[-1].balance:
                    raise SystemExit(f"forecast from {start}: the projection does not add up")
                if hours == 72:
                    items, late = max(items, len(f.items)), max(late, f.overdue_receivables.parties)
    note(f"up to {items} items in 72 hours; up to {late} customers with overdue receivables, summed apart")
    size = f"{lines // 1000}k"
    for hours, values in timings.items():
        latency_figures(f"cash_forecast_{hours}h_{db}_{size}_lines", values)
    engine.dispose()


def main() -> None:
    parser = database_arguments(__doc__, 20, "forecasts per window length")
    parser.add_argument("--lines", type=int, default=0,
                        help="voucher lines (default 1,000,000 PostgreSQL, 100,000 SQLite)")
    args = parser.parse_args()
    size = args.lines or (1_000_000 if args.db == "postgres" else 100_000)
    on_fresh_database("cash", args.db, lambda url: _bench(url, args.db, args.n, size))


if __name__ == "__main__":
    main()
