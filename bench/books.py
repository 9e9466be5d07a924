"""The trial balance, balance sheet and income statement of a period over a large book, and one close.

The book is bench.aging's (sales of four lines, payments matched, over two years from 2025-01):
1,000,000 voucher lines on PostgreSQL, 100,000 on SQLite, written in bulk. Then
``models.queries.statements`` runs for random periods of the second year (so the opening balances
read nearly the whole book) and prints p50/p95; every report must say it balances. Last, the first
month is closed once (checks, closing voucher, renumbering its vouchers gap-free).

    .venv/bin/python -m bench.books [--db sqlite|postgres] [-n 20] [--lines N]
"""

from __future__ import annotations

import random
import time

from bench.aging import _fill_postgres, _fill_sqlite
from bench.common import (
    database_arguments,
    figure,
    latency_figures,
    note,
    on_fresh_database,
)
from models.actor import Actor
from models.db import make_engine, make_session_factory
from models.demo import seed_demo
from models.operations.closing import ClosePeriod, close_period
from models.queries.statements import balance_sheet, income_statement, trial_balance
from models.uow import run

#: Periods of the book's second year: the trial balance's opening reads (nearly) every line before them.
PERIODS = [f"2025{m:02d}" for m in range(7, 13)] + [f"2026{m:02d}" for m in range(1, 12)]


def _bench(url: str, db: str, rounds: int, lines: int) -> None:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    demo = run(factory, seed_demo, "bench-books")
    parties = max(50, lines // 200)
    began = time.perf_counter()
    (_fill_postgres if db == "postgres" else _fill_sqlite)(engine, demo.org_id, parties, lines)
    note(f"{lines} voucher lines, {parties} customers written in {time.perf_counter() - began:.1f} s")
    rng = random.Random(7)
    periods = [rng.choice(PERIODS) for _ in range(rounds)]
    reports = {"trial_balance": trial_balance, "balance_sheet": balance_sheet, "income_statement": income_statement}
    timings: dict[str, list[float]] = {name: [] for name in reports}
    with factory() as s:
        for fn in reports.values():
            fn(s, demo.org_id, periods[0])  # warm: statements compiled, pages cached
        for period in periods:
            for name, fn in reports.items():
                t = time.perf_counter()
                report = fn(s, demo.org_id, period)
                timings[name].append((time.perf_counter() - t) * 1000)
                if not report.balanced:
                    raise SystemExit(f"{name} {period} does not balance")
    t = time.perf_counter()
    closed = run(factory, close_period, Actor.system_actor(demo.org_id), ClosePeriod("202501"))
    close_ms = (time.perf_counter() - t) * 1000
    note(f"closed 202501: {closed.voucher_count} vouchers renumbered, profit {closed.profit}")
    size = f"{lines // 1000}k"
    for name, values in timings.items():
        latency_figures(f"{name}_{db}_{size}_lines", values)
    figure(f"close_first_month_{db}_{size}_lines", close_ms, "ms")
    engine.dispose()


def main() -> None:
    parser = database_arguments(__doc__, 20, "periods to report on")
    parser.add_argument("--lines", type=int, default=0,
                        help="voucher lines (default 1,000,000 PostgreSQL, 100,000 SQLite)")
    args = parser.parse_args()
    size = args.lines or (1_000_000 if args.db == "postgres" else 100_000)
    on_fresh_database("books", args.db, lambda url: _bench(url, args.db, args.n, size))


if __name__ == "__main__":
    main()
