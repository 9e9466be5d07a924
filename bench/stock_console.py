"""Server time of the console's 库存 pages with 100,000 documents and 2,000 items (PostgreSQL).

The demo co-operative gets 2,000 items, 70,000 farmer receipts (one lot each, received over the last
year, 2 % QC-failed) and 30,000 shipments from those lots, spread over its three sites, plus 50 active
freezes — written in bulk with COPY (balances as the sum of the moves), not through the operations:
the figure is the pages. Then, signed in as the manager through the Flask test client, each page is
requested ``-n`` times and p50/p95 printed: the stock list (first page, a 更多 page, held only,
expiring within 7 days, an item search), value by site with slow movers, and random lots' traces.

    .venv/bin/python -m bench.stock_console [-n 20] [--documents 100000]
"""

from __future__ import annotations

import random
import re
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from sqlalchemy import text

from bench.common import database_arguments, figure, latency_figures, note, on_fresh_database
from models.db import make_engine, make_session_factory
from models.demo import seed_demo
from models.uow import run

ITEMS = 2_000
TARGET_MS = 200


def _fill(url: str, documents: int) -> tuple[int, list[int]]:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    demo = run(factory, seed_demo, "bench-stock")
    org, sites = demo.org_id, list(demo.sites.values())
    farmers = [demo.parties[n] for n in ("王阿姨", "李大伯", "陈小芳")]
    customer = demo.parties["杭州茶城"]
    rng = random.Random(11)
    now = datetime.now(UTC)
    with engine.begin() as c:
        item0 = c.execute(text("SELECT coalesce(max(id), 0) FROM items")).scalar_one()
        lot0 = c.execute(text("SELECT coalesce(max(id), 0) FROM lots")).scalar_one()
        doc0 = c.execute(text("SELECT coalesce(max(id), 0) FROM documents")).scalar_one()
        cur = c.connection.driver_connection.cursor()
        items = [item0 + 1 + n for n in range(ITEMS)]
        with cur.copy("COPY items (id, org_id, code, name, base_unit, dimension, shelf_life_days, aliases, active, "
                      "created_at) FROM STDIN") as copy:
            for n, item in enumerate(items):
                copy.write_row((item, org, f"B{n:04d}", f"商品{n:04d}", "公斤", "MASS", 365, "", True, now))
        receipts = documents * 7 // 10
        lots: list[tuple[int, int, int, Decimal, Decimal]] = []  # (lot, item, site, on hand, unit cost)
        moves: list[tuple] = []
        docs: list[tuple] = []
        did = doc0
        with cur.copy("COPY lots (id, org_id, item_id, code, received_on, expires_on, origin_party_id, qc_status, "
                      "created_at) FROM STDIN") as copy:
            for n in range(receipts):
                did += 1
                when = now - timedelta(seconds=rng.randrange(365 * 86400))
                item, site = rng.choice(items), rng.choice(sites)
                qty, cost = Decimal(rng.randrange(5, 200)), Decimal(rng.randrange(20, 150))
                lot = lot0 + 1 + n
                expires = (when + timedelta(days=rng.randrange(30, 400))).date()
                copy.write_row((lot, org, item, f"B-{n:06d}", when.date(), expires, rng.choice(farmers),
                                "FAILED" if rng.random() < 0.02 else "PASSED", when))
                docs.append((did, "RECEIPT", f"RK-B-{n:06d}", when, site, rng.choice(farmers), qty * cost))
                moves.append((did, item, lot, site, qty, cost, when))
                lots.append((lot, item, site, qty, cost))
        for n in range(documents - receipts):
            did += 1
            k = rng.randrange(len(lots))
            lot, item, site, left, cost = lots[k]
            qty = min(left, Decimal(rng.randrange(1, 20)))
            lots[k] = (lot, item, site, left - qty, cost)
            when = now - timedelta(seconds=rng.randrange(200 * 86400))
            docs.append((did, "SHIPMENT", f"CK-B-{n:06d}", when, site, customer, qty * cost))
            moves.append((did, item, lot, site, -qty, cost, when))
        with cur.copy("COPY documents (id, org_id, kind, status, number, business_time, site_id, party_id, "
                      "total_amount, tax_amount, urgent, note, extra, created_at) FROM STDIN") as copy:
            for d in docs:
                copy.write_row((d[0], org, d[1], "POSTED", d[2], d[3], d[4], d[5], d[6], 0, False, "", "{}", d[3]))
        with cur.copy("COPY stock_moves (id, org_id, document_id, item_id, lot_id, site_id, quantity, unit_cost, "
                      "value, business_time, recorded_at, origin_node) FROM STDIN") as copy:
            for m in moves:
                copy.write_row((uuid.uuid4(), org, *m[:6], m[4] * m[5], m[6], m[6], "bench"))
        with cur.copy("COPY balances (org_id, item_id, site_id, lot_id, on_hand, reserved, value) FROM STDIN") as copy:
            for lot, item, site, left, cost in lots:
                copy.write_row((org, item, site, lot, left, 0, left * cost))
        c.execute(text("INSERT INTO freezes (org_id, item_id, site_id, lot_id, direction, reason, active, created_at) "
                       "VALUES (:org, :item, :site, NULL, 'OUTBOUND', '温度超标', true, CURRENT_TIMESTAMP)"),
                  [{"org": org, "item": rng.choice(items), "site": rng.choice(sites)} for _ in range(50)])
        for table in ("items", "lots", "documents"):
            c.execute(text(f"SELECT setval('{table}_id_seq', (SELECT max(id) FROM {table}))"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    note(f"{len(docs)} documents, {len(moves)} moves, {len(lots)} lots, {ITEMS} items written")
    return org, [lot for lot, *_ in rng.sample(lots, 50)]


def _bench(url: str, rounds: int, documents: int) -> None:
    from app.factory import create_app
    from tests.console.conftest import csrf_of  # the browser's way to read a form's token

    began = time.perf_counter()
    org, sample_lots = _fill(url, documents)
    note(f"filled in {time.perf_counter() - began:.1f} s")
    app = create_app({"DATABASE_URL": url, "LIUZHUAN_VAR_DIR": tempfile.mkdtemp(prefix="bench-stock-")})
    client = app.test_client()
    signed = client.post("/console/login/dev", data={"csrf_token": csrf_of(client), "phone": "13900000003",
                                                     "org_id": org, "next": "/console/"})
    assert signed.status_code == 303, signed.get_data(as_text=True)
    first = client.get("/console/stock").get_data(as_text=True)
    more = re.search(r'href="(/console/stock\?after=[^"]+)"', first)
    assert more, "the first page should have a 更多 link"
    pages = {
        "list": "/console/stock", "list_more": more.group(1).replace("&amp;", "&"), "held": "/console/stock?held=1",
        "expiring_7d": "/console/stock?expiring=7", "search": "/console/stock?q=商品01",
        "value_slow": "/console/stock/value?days=90",
    }
    worst = 0.0
    for name, path in pages.items():
        timings = []
        for _ in range(rounds):
            start = time.perf_counter()
            response = client.get(path)
            timings.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, (path, response.status_code)
        latency_figures(name, timings)
        worst = max(worst, sorted(timings)[int(0.95 * (len(timings) - 1))])
    timings = []
    for n in range(rounds):
        start = time.perf_counter()
        response = client.get(f"/console/stock/lots/{sample_lots[n % len(sample_lots)]}")
        timings.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    latency_figures("lot_trace", timings)
    weight = len(client.get("/console/stock").data)
    figure("list_page_bytes", weight, "B", 0)
    figure("target_ms", TARGET_MS, "ms", 0)


def main() -> None:
    parser = database_arguments(__doc__, 20, "requests per page")
    parser.add_argument("--documents", type=int, default=100_000)
    args = parser.parse_args()
    if args.db != "postgres":
        note("this benchmark writes with COPY: running it on PostgreSQL")
    on_fresh_database("stock_console", "postgres", lambda url: _bench(url, args.n, args.documents))


if __name__ == "__main__":
    main()
