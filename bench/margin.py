"""Order margin over a month of shipments: the rollups by customer and by item, and one order.

PostgreSQL: 50,000 shipments in the month measured (and as many the month before, so the range
matters), 500 customers, 20 items at the demo's three sites; half the shipments fulfil sales orders
(four shipments an order), 1 % are reversed, three orders in ten and one shipment in ten carry an
extra. SQLite the same at a tenth. The book is written in bulk (COPY on PostgreSQL, executemany on
SQLite), not through the operations: the figure is the report. Then
``models.queries.margin.margin_rollup`` runs over the month by customer and by item and
``document_margin`` for random orders, printing p50/p95; each rollup checks that its total margin
equals the book's (revenue − cost − extras as written).

    .venv/bin/python -m bench.margin [--db sqlite|postgres] [-n 10] [--shipments N]
"""

from __future__ import annotations

import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
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
from models.actor import Actor
from models.db import make_engine, make_session_factory
from models.demo import seed_demo
from models.operations.masterdata import CreateItem, create_item
from models.queries.margin import document_margin, margin_rollup
from models.uow import run

MONTH = date(2026, 11, 1)  # the month measured; the one before is background
ITEMS = 20


@dataclass
class _Book:
    documents: list[tuple] = field(default_factory=list)
    moves: list[tuple] = field(default_factory=list)
    charges: list[tuple] = field(default_factory=list)
    orders: list[int] = field(default_factory=list)
    #: Σ margin (fen) of the measured month's shipments and the extras they carry.
    month_margin: int = 0


def _book(org_id: int, customers: list[int], sites: list[int], lots: dict[tuple[int, int], int], shipments: int,
          doc0: int) -> _Book:
    """Two months of shipments (money in fen). Documents: (id, kind, status, number, business_time, site,
    party, total, source, reverses); moves: (document, item, lot, site, quantity, unit cost, value, time);
    charges: (document, kind, amount, day)."""
    rng = random.Random(7)
    book = _Book()
    did = doc0
    items = sorted({item for item, _site in lots})
    for month_start in (MONTH - timedelta(days=30), MONTH):
        measured = month_start == MONTH
        per_order: list[tuple[int, int]] = []  # (order id, standing revenue) of this month's orders
        order_id, left_on_order = 0, 0  # an order's shipments stay in its month
        for k in range(shipments):
            when = datetime.combine(month_start, datetime.min.time(), UTC) + timedelta(
                seconds=rng.randrange(29 * 86400))
            site, item = rng.choice(sites), rng.choice(items)
            party = rng.choice(customers)
            qty = rng.randrange(1, 40)
            cost = rng.randrange(3_000, 9_000)  # fen per unit
            revenue = qty * cost * rng.randrange(95, 140) // 100
            source = None
            if k % 2 == 0:  # half the shipments fulfil an order of four
                if left_on_order == 0:
                    did += 1
                    order_id, left_on_order = did, 4
                    book.documents.append((did, "SALES_ORDER", "DONE", f"XS-{did}", when, site, party, 0, None, None))
                    book.orders.append(did)
                    per_order.append((did, 0))
                source, left_on_order = order_id, left_on_order - 1
            did += 1
            reversed_ = rng.random() < 0.01
            book.documents.append((did, "SHIPMENT", "REVERSED" if reversed_ else "POSTED", f"CK-{did}", when, site,
                                   party, revenue, source, None))
            book.moves.append((did, item, lots[item, site], site, -qty, cost, -qty * cost, when))
            extra = 0
            if k % 10 == 3:
                extra = rng.randrange(500, 5_000)
                book.charges.append((did, "PACKAGING", extra, when.date()))
            if reversed_:
                did += 1
                book.documents.append((did, "SHIPMENT", "POSTED", f"CK-{did}", when + timedelta(hours=1), site,
                                       party, -revenue, None, did - 1))
                book.moves.append((did, item, lots[item, site], site, qty, cost, qty * cost, when + timedelta(hours=1)))
                if extra:  # reversed with its shipment, as reverse_document does
                    book.charges.append((did - 1, "PACKAGING", -extra, when.date()))
            elif measured:
                book.month_margin += revenue - qty * cost - extra
                if source is not None:
                    per_order[-1] = (order_id, per_order[-1][1] + revenue)
        for n, (oid, standing) in enumerate(per_order):
            if n % 10 < 3:
                freight = rng.randrange(1_000, 20_000)
                book.charges.append((oid, "FREIGHT", freight, month_start))
                if measured and standing > 0:  # all of it lands on the order's standing shipments
                    book.month_margin -= freight
    return book


def _setup(factory, engine) -> tuple[int, list[int], list[int], dict[tuple[int, int], int], int]:
    demo = run(factory, seed_demo, "bench-margin")
    root = Actor.system_actor(demo.org_id, "bench")
    items = [run(factory, create_item, root, CreateItem(code=f"B{i}", name=f"商品{i}", base_unit="公斤"))
             for i in range(ITEMS)]
    sites = list(demo.sites.values())
    with engine.begin() as c:
        c.execute(text("INSERT INTO lots (org_id, item_id, code, qc_status, created_at) "
                       "VALUES (:org, :item, :code, 'PASSED', CURRENT_TIMESTAMP)"),
                  [{"org": demo.org_id, "item": i, "code": f"L{i}-{s}"} for i in items for s in sites])
        lots = {(i, s): c.execute(text("SELECT id FROM lots WHERE org_id = :o AND code = :code"),
                                  {"o": demo.org_id, "code": f"L{i}-{s}"}).scalar_one() for i in items for s in sites}
        doc0 = c.execute(text("SELECT coalesce(max(id), 0) FROM documents")).scalar_one()
    return demo.org_id, items, sites, lots, doc0


def _customers(engine, org_id: int, count: int) -> list[int]:
    with engine.begin() as c:
        c.execute(text("INSERT INTO parties (org_id, code, name, kind, active, created_at, credit_days) "
                       "VALUES (:org, :code, :name, 'CUSTOMER', true, CURRENT_TIMESTAMP, 0)"),
                  [{"org": org_id, "code": f"B{g}", "name": f"客户{g}"} for g in range(count)])
        return list(c.execute(text("SELECT id FROM parties WHERE org_id = :o AND code LIKE 'B%'"),
                              {"o": org_id}).scalars())


def _fill_postgres(engine, org_id: int, book: _Book) -> None:
    yuan = Decimal(100)
    with engine.begin() as c:
        cur = c.connection.driver_connection.cursor()
        with cur.copy("COPY documents (id, org_id, kind, status, number, business_time, site_id, party_id, "
                      "total_amount, source_document_id, reverses_document_id, tax_amount, urgent, note, extra, "
                      "created_at) FROM STDIN") as copy:
            for d in book.documents:
                copy.write_row((d[0], org_id, *d[1:7], Decimal(d[7]) / yuan, d[8], d[9], 0, False, "", "{}", d[4]))
        with cur.copy("COPY stock_moves (id, org_id, document_id, item_id, lot_id, site_id, quantity, unit_cost, "
                      "value, business_time, recorded_at, origin_node) FROM STDIN") as copy:
            for m in book.moves:
                copy.write_row((uuid.uuid4(), org_id, *m[:5], Decimal(m[5]) / yuan, Decimal(m[6]) / yuan, m[7], m[7],
                                "bench"))
        with cur.copy("COPY order_charges (org_id, document_id, kind, amount, charged_on, note, created_at) "
                      "FROM STDIN") as copy:
            for ch in book.charges:
                copy.write_row((org_id, ch[0], ch[1], Decimal(ch[2]) / yuan, ch[3], "", "2026-11-01 00:00:00+00"))
        c.execute(text("SELECT setval('documents_id_seq', (SELECT max(id) FROM documents))"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE"))


def _fill_sqlite(engine, org_id: int, book: _Book) -> None:
    def ts(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%d %H:%M:%S.%f")

    with engine.begin() as c:
        cur = c.connection.driver_connection.cursor()
        cur.executemany(
            "INSERT INTO documents (id, org_id, kind, status, number, business_time, site_id, party_id, total_amount, "
            "source_document_id, reverses_document_id, tax_amount, urgent, note, extra, created_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, 0, '', '{}', ?)",
            [(d[0], org_id, d[1], d[2], d[3], ts(d[4]), d[5], d[6], d[7], d[8], d[9], ts(d[4]))
             for d in book.documents])
        cur.executemany(
            "INSERT INTO stock_moves (id, org_id, document_id, item_id, lot_id, site_id, quantity, unit_cost, value, "
            "business_time, recorded_at, origin_node) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'bench')",
            [(uuid.uuid4().hex, org_id, m[0], m[1], m[2], m[3], m[4] * 10**6, m[5] * 10**4, m[6], ts(m[7]), ts(m[7]))
             for m in book.moves])
        cur.executemany(
            "INSERT INTO order_charges (org_id, document_id, kind, amount, charged_on, note, created_at) "
            "VALUES (?, ?, ?, ?, ?, '', '2026-11-01 00:00:00.000000')",
            [(org_id, ch[0], ch[1], ch[2], ch[3].isoformat()) for ch in book.charges])
        cur.execute("ANALYZE")


def _bench(url: str, db: str, rounds: int, shipments: int) -> None:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    org_id, _items, sites, lots, doc0 = _setup(factory, engine)
    customers = _customers(engine, org_id, max(50, shipments // 100))
    began = time.perf_counter()
    book = _book(org_id, customers, sites, lots, shipments, doc0)
    (_fill_postgres if db == "postgres" else _fill_sqlite)(engine, org_id, book)
    note(f"{len(book.documents)} documents, {len(book.moves)} moves, {len(book.charges)} charges "
         f"written in {time.perf_counter() - began:.1f} s")
    month_end = date(MONTH.year, MONTH.month + 1, 1) - timedelta(days=1)
    expected = Decimal(book.month_margin) / 100
    timings: dict[str, list[float]] = {"customer": [], "item": []}
    order_ms = []
    rng = random.Random(3)
    with factory() as s:
        margin_rollup(s, org_id, MONTH, month_end, "customer")  # warm: statement compiled, pages cached
        s.rollback()
        for _ in range(rounds):
            for group in timings:
                t = time.perf_counter()
                report = margin_rollup(s, org_id, MONTH, month_end, group)
                timings[group].append((time.perf_counter() - t) * 1000)
                s.rollback()
                # Order charges are allocated to the fen by cumulative revenue: exactly what was booked.
                if report.totals.margin != expected:
                    raise SystemExit(f"rollup {group}: margin {report.totals.margin} != book {expected}")
        for _ in range(rounds * 2):
            t = time.perf_counter()
            document_margin(s, org_id, rng.choice(book.orders))
            order_ms.append((time.perf_counter() - t) * 1000)
    note(f"{report.shipments} shipment documents in the month, margin {report.totals.margin} "
         f"({report.totals.margin_pct} %), unallocated extras {report.unallocated_extras}")
    size = f"{shipments // 1000}k"
    for group, values in timings.items():
        latency_figures(f"margin_rollup_by_{group}_{db}_{size}_shipments", values)
    figure(f"order_margin_{db}_p95", percentile(order_ms, 95), "ms")
    engine.dispose()


def main() -> None:
    parser = database_arguments(__doc__, 10, "rounds of each rollup")
    parser.add_argument("--shipments", type=int, default=0,
                        help="shipments in the month (default 50,000 PostgreSQL, 5,000 SQLite)")
    args = parser.parse_args()
    size = args.shipments or (50_000 if args.db == "postgres" else 5_000)
    on_fresh_database("margin", args.db, lambda url: _bench(url, args.db, args.n, size))


if __name__ == "__main__":
    main()
