"""The console's document list (单据) and a document's page over 100,000 documents.

The demo org gets 100,000 documents (receipts, shipments, transfers, counts, orders over three
sites, 2,000 parties, a year of business times, one line each), written in bulk, not through the
operations: the figure is the list. Then ``document_list`` runs with each filter the page offers
(none, kind, status, site, party, date range, number search, a deep page) and ``document_detail``
for random documents, and prints p50/p95 of each in milliseconds (target ≤ 200 ms).

    .venv/bin/python -m bench.documents [--db sqlite|postgres] [-n 20] [--documents N]
"""

from __future__ import annotations

import random
import time
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import text

from bench.common import database_arguments, latency_figures, note, on_fresh_database
from models.actor import load_actor
from models.db import make_engine, make_session_factory
from models.demo import seed_demo
from models.documents import DocKind, DocStatus
from models.queries.document_detail import document_detail
from models.queries.document_list import DocumentFilter, document_list
from models.uow import run

KINDS = [("RECEIPT", "RK", "POSTED"), ("SHIPMENT", "CK", "POSTED"), ("TRANSFER", "DB", "REQUESTED"),
         ("COUNT", "PD", "POSTED"), ("SALES_ORDER", "XS", "CONFIRMED"), ("PURCHASE_ORDER", "CG", "DONE")]
PARTIES = 2_000


def _fill(engine, org_id: int, sites: list[int], item_id: int, count: int) -> None:
    sqlite = engine.dialect.name == "sqlite"
    start = datetime(2026, 1, 1, tzinfo=UTC)
    with engine.begin() as c:
        c.execute(text("INSERT INTO parties (org_id, code, name, kind, active, created_at, credit_days) "
                       "VALUES (:org, :code, :name, 'CUSTOMER', true, CURRENT_TIMESTAMP, 0)"),
                  [{"org": org_id, "code": f"B{g}", "name": f"客户{g}"} for g in range(PARTIES)])
        first_party = c.execute(text("SELECT min(id) FROM parties WHERE org_id = :o AND code LIKE 'B%'"),
                                {"o": org_id}).scalar_one()
        d0 = c.execute(text("SELECT coalesce(max(id), 0) FROM documents")).scalar_one()
        docs, lines = [], []
        for k in range(count):
            kind, prefix, status = KINDS[k % len(KINDS)]
            site = sites[k % len(sites)]
            when = start + timedelta(minutes=5 * k)
            did = d0 + k + 1
            number = f"{prefix}-B{site}-{when:%Y%m%d}-{k:06d}"
            stamp = when.strftime("%Y-%m-%d %H:%M:%S.%f") if sqlite else when
            docs.append({"id": did, "org": org_id, "kind": kind, "number": number, "status": status, "site": site,
                         "to_site": sites[(k + 1) % len(sites)] if kind == "TRANSFER" else None,
                         "party": first_party + k % PARTIES if kind != "TRANSFER" else None, "at": stamp,
                         "total": 1000 if sqlite else 10})
            lines.append({"org": org_id, "doc": did, "item": item_id, "qty": 1_000_000 if sqlite else 1})
        c.execute(text("INSERT INTO documents (id, org_id, kind, number, status, site_id, to_site_id, party_id, "
                       "business_time, total_amount, tax_amount, urgent, note, extra, created_at) VALUES (:id, :org, "
                       ":kind, :number, :status, :site, :to_site, :party, :at, :total, 0, false, '', '{}', "
                       "CURRENT_TIMESTAMP)"), docs)
        c.execute(text("INSERT INTO document_lines (org_id, document_id, line_no, item_id, quantity, unit_price, "
                       "amount, done_quantity, tax_amount) VALUES (:org, :doc, 1, :item, :qty, 0, 0, 0, 0)"), lines)
        if not sqlite:
            c.execute(text("SELECT setval('documents_id_seq', (SELECT max(id) FROM documents))"))
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
        c.execute(text("ANALYZE"))


def bench(url: str, rounds: int, count: int) -> None:
    engine = make_engine(url)
    factory = make_session_factory(engine)
    demo = run(factory, seed_demo, "bench-docs")
    sites = list(demo.sites.values())
    note(f"writing {count} documents")
    _fill(engine, demo.org_id, sites, demo.items["茶青"], count)
    with factory() as s:
        manager, clerk = load_actor(s, demo.members["赵经理"]), load_actor(s, demo.members["小周"])
    with factory() as s:
        first_party = s.execute(text("SELECT min(id) FROM parties WHERE org_id = :o AND code LIKE 'B%'"),
                                {"o": demo.org_id}).scalar_one()
        ids = [r[0] for r in s.execute(text("SELECT id FROM documents WHERE org_id = :o"), {"o": demo.org_id})]
    rng = random.Random(7)
    filters = {
        "none": lambda: DocumentFilter(),
        "kind": lambda: DocumentFilter(kind=rng.choice([DocKind.RECEIPT, DocKind.TRANSFER, DocKind.COUNT])),
        "status": lambda: DocumentFilter(status=DocStatus.REQUESTED),
        "site": lambda: DocumentFilter(site_id=rng.choice(sites)),
        "party": lambda: DocumentFilter(party_id=first_party + rng.randrange(PARTIES)),
        "dates": lambda: DocumentFilter(date_from=date(2026, 3, d := rng.randrange(1, 28)),
                                        date_to=date(2026, 3, d + 1)),
        "number_part": lambda: DocumentFilter(number=f"{rng.randrange(100000):06d}"),
        "number_prefix": lambda: DocumentFilter(number=f"DB-B{rng.choice(sites)}-2026"),
        "kind_site_status": lambda: DocumentFilter(kind=DocKind.TRANSFER, status=DocStatus.REQUESTED,
                                                   site_id=rng.choice(sites)),
    }
    for name, make in filters.items():
        timings = []
        for _ in range(rounds):
            with factory() as s:
                t0 = time.perf_counter()
                page = document_list(s, manager, make())
                timings.append((time.perf_counter() - t0) * 1000)
        note(f"{name}: {len(page.rows)} rows")
        latency_figures(f"documents_list_{name}", timings)
    for name, who in (("deep_page", manager), ("clerk", clerk)):
        timings = []
        for _ in range(rounds):
            with factory() as s:
                t0 = time.perf_counter()
                document_list(s, who, DocumentFilter(), after=min(ids) + 500 if name == "deep_page" else None)
                timings.append((time.perf_counter() - t0) * 1000)
        latency_figures(f"documents_list_{name}", timings)
    timings = []
    for _ in range(rounds):
        with factory() as s:
            t0 = time.perf_counter()
            document_detail(s, manager, rng.choice(ids))
            timings.append((time.perf_counter() - t0) * 1000)
    latency_figures("documents_detail", timings)
    engine.dispose()


def main() -> None:
    parser = database_arguments(__doc__, 20, "rounds per filter")
    parser.add_argument("--documents", type=int, default=100_000)
    args = parser.parse_args()
    on_fresh_database("documents", args.db, lambda url: bench(url, args.n, args.documents))


if __name__ == "__main__":
    main()
