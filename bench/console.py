"""The manager console at scale: server time of every page, and its weight on the wire.

The demo co-operative is scaled to 2,000 items (each with a grade price), 300 farmers, 100 customers
and 100,000 documents — farmer receipts, shipments, transfer requests and counts in the mix a
collection point produces — posted through the real path (``POST /api/v1/sync`` batches of 200 as
the director, business times spread over the last 60 days), so every page reads the rows the
operations really write: lots, moves, balances, vouchers, settlements, outbox events, audit rows.

Then the director signs in to the console and every page is fetched in-process through the WSGI
app: every GET route of the console without a path parameter, and the routes that take an id with
ids drawn from the data (a document, a lot, an item × site ...). Prints per page the server time
p50/p95 over ``-n`` requests after two warm-ups, the worst p95, and the page weight: the HTML plus
every same-origin stylesheet and script it loads, gzip-compressed as the app sends them, the chart
library (vendor/echarts.min.js, loaded once and cached for a year) excepted and printed on its own.

    .venv/bin/python -m bench.console [--db postgres|sqlite] [-n 20] [--documents 100000] [--items 2000]
        [--keep-db NAME] [--pages today,money_cash,stock_value]

Building the 100,000-document org takes the better part of an hour: ``--keep-db NAME`` (PostgreSQL) builds it
into database NAME and keeps it, or — when NAME already holds a finished build — migrates it to the newest
schema and times its pages without rebuilding. ``--pages`` times only the pages named (endpoint names without
``console.``, as printed).

Targets (issue 13): every page p95 ≤ 200 ms; page weight ≤ 300 KB compressed.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import gzip
import random
import re
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy import text

from app.cli import migrate
from bench.common import (
    drop_postgres_database,
    figure,
    fresh_migrated_postgres,
    fresh_migrated_sqlite,
    note,
    percentile,
    pg_url,
)
from models.actor import Actor
from models.base import utcnow
from models.catalog import Dimension
from models.db import make_engine, make_session_factory
from models.demo import DEMO_CODE, DemoOrg, seed_demo
from models.errors import DomainError
from models.operations.masterdata import CreateItem, CreateParty, GradeSpec, create_item, create_party
from models.operations.planning import RunForecast, run_forecast
from models.operations.replenishment import RecomputeReplenishment, recompute_replenishment
from models.operations.settlement import SettleFarmer, settle_farmer
from models.org import PartyKind
from models.uow import run

BATCH = 200
DIRECTOR_PHONE = "13900000004"
_ASSET = re.compile(r'<(?:script|link)[^>]+(?:src|href)="(/console/static/[^"?]+)[^"]*"')
CHART_LIBRARY = "/console/static/vendor/echarts.min.js"


def _masterdata(session: Any, demo: DemoOrg, items: int, farmers: int, customers: int) -> dict[str, list[int]]:
    root = Actor.system_actor(demo.org_id, "bench")
    made: dict[str, list[int]] = {"items": [], "grades": [], "farmers": [], "customers": []}
    for n in range(items):
        item = create_item(session, root, CreateItem(
            code=f"B{n:05d}", name=f"商品{n:05d}", base_unit="公斤", dimension=Dimension.MASS,
            shelf_life_days=30 + n % 300, grades=(GradeSpec("统货", Decimal(20 + n % 50), 1),),
            sale_price=Decimal(40 + n % 80)))
        made["items"].append(item)
    for n in range(farmers):
        made["farmers"].append(create_party(session, root, CreateParty(
            f"BF{n:04d}", f"农户{n:04d}", PartyKind.FARMER, f"137{n:08d}")))
    for n in range(customers):
        made["customers"].append(create_party(session, root, CreateParty(
            f"BC{n:04d}", f"客户{n:04d}", PartyKind.CUSTOMER)))
    return made


def _grades(session: Any, item_ids: list[int]) -> dict[int, int]:
    rows = session.execute(text("SELECT item_id, id FROM grades WHERE item_id IN (SELECT id FROM items WHERE org_id ="
                                " (SELECT org_id FROM items WHERE id = :first))"), {"first": item_ids[0]})
    return {int(item): int(grade) for item, grade in rows}


def _operations(demo: DemoOrg, made: dict[str, list[int]], grades: dict[int, int], documents: int,
                rng: random.Random) -> list[dict[str, Any]]:
    """The mix: 60 % receipts, 25 % shipments (of what was received there before), 10 % transfer requests,
    5 % counts; business times in order over the last 60 days."""
    sites = list(demo.sites.values())
    start = utcnow() - timedelta(days=60)
    step = timedelta(days=59) / documents
    stocked: list[tuple[int, int]] = []
    ops: list[dict[str, Any]] = []
    for n in range(documents):
        slot = n % 20
        site = sites[n % len(sites)]
        if slot < 12 or not stocked:
            item = rng.choice(made["items"])
            kind, body = "receive", {"site_id": site, "item_id": item, "quantity": str(50 + n % 40), "unit": "公斤",
                                     "party_id": rng.choice(made["farmers"]), "grade_id": grades[item]}
            stocked.append((site, item))
        elif slot < 17:
            at, item = rng.choice(stocked[-5000:])
            kind, body = "ship", {"site_id": at, "item_id": item, "quantity": "1",
                                  "party_id": rng.choice(made["customers"])}
        elif slot < 19:
            at, item = rng.choice(stocked[-5000:])
            to = sites[(sites.index(at) + 1) % len(sites)]
            kind, body = "transfer_request", {"from_site_id": at, "to_site_id": to,
                                              "lines": [{"item_id": item, "quantity": "1"}]}
        else:
            at, item = rng.choice(stocked[-5000:])
            kind, body = "count", {"site_id": at, "item_id": item, "counted": "0"}
        ops.append({"client_id": str(uuid.uuid4()), "kind": kind, "body": body,
                    "business_time": (start + step * n).isoformat()})
    return ops


def _scale(url: str, tmp: Path, documents: int, items: int) -> tuple[Any, DemoOrg]:
    from miniprogram_api.auth import issue_token

    factory = make_session_factory(make_engine(url))
    demo = run(factory, seed_demo)
    note(f"master data: {items:,} items, 300 farmers, 100 customers")
    made = run(factory, lambda s: _masterdata(s, demo, items, 300, 100))
    with factory() as session:
        grades = _grades(session, made["items"])
    app = _app(url, tmp)
    client = app.test_client()
    with app.app_context():
        headers = {"Authorization": f"Bearer {issue_token(demo.members['钱总监'], demo.org_id)}"}
    ops = _operations(demo, made, grades, documents, random.Random(13))
    began = time.perf_counter()
    applied = 0
    for first in range(0, len(ops), BATCH):
        resp = client.post("/api/v1/sync", headers=headers, json={"operations": ops[first:first + BATCH]})
        if resp.status_code != 200:
            raise SystemExit(f"sync answered {resp.status_code}: {resp.get_data(as_text=True)[:500]}")
        applied += resp.get_json()["applied"]
        if first // BATCH % 50 == 49:
            note(f"  {first + BATCH:,}/{len(ops):,} operations, {applied:,} applied, "
                 f"{time.perf_counter() - began:.0f} s")
    figure("console_scale_documents_applied", applied, "documents", 0)
    figure("console_scale_load_s", time.perf_counter() - began, "s")
    # Settlements to open (the money pages list and show them): a tenth of the farmers are paid.
    for farmer in made["farmers"][::10]:
        with contextlib.suppress(DomainError):  # nothing due for that farmer
            run(factory, settle_farmer, Actor.system_actor(demo.org_id, "bench"), SettleFarmer(farmer))
    # The planning pages read a forecast run and its suggestions: make them as the beat would.
    began = time.perf_counter()
    planner = Actor.system_actor(demo.org_id, "bench")
    result = run(factory, run_forecast, planner, RunForecast(horizon=8))
    run(factory, recompute_replenishment, planner, RecomputeReplenishment())
    note(f"forecast run {result.run_id}: {time.perf_counter() - began:.0f} s")
    return app, demo


# --- the pages ---------------------------------------------------------------------------------------

#: How to fill a path parameter of a console route: SQL returning candidate ids in the org, by parameter
#: name, or by (endpoint, parameter) where a name means something narrower on that page.
SAMPLES: dict[str, str] = {
    "document_id": "SELECT id FROM documents WHERE org_id = :org ORDER BY id",
    "lot_id": "SELECT id FROM lots WHERE org_id = :org ORDER BY id",
    "item_id": "SELECT id FROM items WHERE org_id = :org ORDER BY id",
    "site_id": "SELECT id FROM sites WHERE org_id = :org ORDER BY id",
    "party_id": "SELECT id FROM parties WHERE org_id = :org ORDER BY id",
    "voucher_id": "SELECT id FROM vouchers WHERE org_id = :org ORDER BY id",
    "member_id": "SELECT id FROM members WHERE org_id = :org ORDER BY id",
}
BY_PAGE: dict[tuple[str, str], str] = {
    ("console.money_margin_document", "document_id"):
        "SELECT id FROM documents WHERE org_id = :org AND kind IN ('SHIPMENT', 'SALES_ORDER') ORDER BY id",
    ("console.money_settlement", "document_id"):
        "SELECT id FROM documents WHERE org_id = :org AND kind = 'SETTLEMENT' ORDER BY id",
    ("console.money_farmer", "party_id"): "SELECT id FROM parties WHERE org_id = :org AND kind = 'FARMER' ORDER BY id",
    ("console.money_rule", "rule_id"): "SELECT id FROM mapping_rules WHERE org_id = :org ORDER BY id",
    ("console.collaboration_rule_edit", "rule_id"): "SELECT id FROM rules WHERE org_id = :org ORDER BY id",
    ("console.collaboration_webhook_log", "sub_id"):
        "SELECT id FROM webhook_subscriptions WHERE org_id = :org ORDER BY id",
}
#: Pages whose (item, site) must be planned: both drawn from one forecast line.
PLANNED = "SELECT DISTINCT item_id, site_id FROM forecast_lines WHERE org_id = :org ORDER BY 1, 2"
_PARAM = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")
#: Sign-in, downloads (.xlsx, .pdf: files, not pages) and forms of one kind are not pages here.
SKIP = ("console.static", "console.login", "console.login_qr", "console.login_qr_callback",
        "console.money_margin_find")  # a lookup by number that answers with a redirect, not a page


def _candidates(url: str, sql: str, org_id: int) -> list[Any]:
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return [tuple(r) if len(r) > 1 else r[0] for r in conn.execute(text(sql), {"org": org_id})]
    except Exception as exc:  # a table this org never wrote (the page is then skipped)
        note(f"no samples ({type(exc).__name__}): {sql[:60]}")
        return []
    finally:
        engine.dispose()


def _pages(app: Any, org_id: int, url: str, rng: random.Random) -> dict[str, Callable[[], str]]:
    """Page name → a function returning a URL to fetch (a fresh id each time for routes that take one)."""
    pages: dict[str, Callable[[], str]] = {}
    for rule in app.url_map.iter_rules():
        if (not rule.rule.startswith("/console") or "GET" not in (rule.methods or ()) or rule.endpoint in SKIP
                or rule.rule.endswith((".xlsx", ".pdf", ".<fmt>")) or "<kind>" in rule.rule):
            continue
        params = tuple(_PARAM.findall(rule.rule))
        if params == ("item_id", "site_id"):
            pairs = _candidates(url, PLANNED, org_id)
            choose: dict[str, list[Any]] = {"pair": pairs}
        else:
            choose = {p: _candidates(url, BY_PAGE.get((rule.endpoint, p), SAMPLES.get(p, "")), org_id)
                      if (rule.endpoint, p) in BY_PAGE or p in SAMPLES else [] for p in params}
        if any(not ids for ids in choose.values()):
            note(f"skipped {rule.rule}: nothing of that kind in the scaled org")
            continue

        def make(rule_text: str = rule.rule, names: tuple[str, ...] = params,
                 pools: dict[str, list[Any]] = choose) -> str:
            if "pair" in pools:
                item, site = rng.choice(pools["pair"])
                return rule_text.replace("<int:item_id>", str(item)).replace("<int:site_id>", str(site))
            filled = rule_text
            for name in names:
                filled = re.sub(r"<(?:[^:<>]+:)?" + name + ">", str(rng.choice(pools[name])), filled)
            return filled

        pages[rule.endpoint.removeprefix("console.")] = make
    return pages


def _weight(client: Any, page_url: str) -> tuple[int, int]:
    """(compressed bytes of the page and its assets without the chart library, the chart library's)."""
    def size(path: str) -> int:
        resp = client.get(path, headers={"Accept-Encoding": "gzip"})
        body = resp.get_data()
        return len(body) if resp.headers.get("Content-Encoding") == "gzip" else len(gzip.compress(body, 6))

    html = client.get(page_url).get_data(as_text=True)
    total, chart = size(page_url), 0
    for asset in sorted(set(_ASSET.findall(html))):
        if asset == CHART_LIBRARY:
            chart = size(asset)
        else:
            total += size(asset)
    return total, chart


def _measure(app: Any, org_id: int, url: str, rounds: int, only: set[str] | None = None) -> None:
    client = app.test_client()
    login = client.get("/console/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', login)
    assert token is not None
    resp = client.post("/console/login/dev", data={"csrf_token": token.group(1), "phone": DIRECTOR_PHONE,
                                                   "org_id": org_id, "next": "/console/"})
    if resp.status_code != 303:
        raise SystemExit(f"sign-in failed: {resp.status_code}")
    rng = random.Random(5)
    worst, heaviest, chart_kb = 0.0, 0.0, 0.0
    over = []
    failed = []
    pages = _pages(app, org_id, url, rng)
    if only is not None:
        unknown = only - pages.keys()
        if unknown:
            raise SystemExit(f"no such page: {', '.join(sorted(unknown))}")
        pages = {name: make for name, make in pages.items() if name in only}
    for name, make in sorted(pages.items()):
        times: list[float] = []
        for n in range(rounds + 2):
            target = make()
            began = time.perf_counter()
            resp = client.get(target)
            elapsed = (time.perf_counter() - began) * 1000
            if resp.status_code != 200:  # a page that does not answer is reported, never timed
                note(f"{target} answered {resp.status_code}: {resp.get_data(as_text=True)[:200]}")
                failed.append(name)
                break
            if n >= 2:
                times.append(elapsed)
        if not times:
            continue
        p95 = percentile(times, 95)
        figure(f"console_{name}_p50", percentile(times, 50), "ms")
        figure(f"console_{name}_p95", p95, "ms")
        kb, chart = _weight(client, make())
        figure(f"console_{name}_weight", kb / 1024, "KB")
        worst, heaviest = max(worst, p95), max(heaviest, kb / 1024)
        chart_kb = max(chart_kb, chart / 1024)
        if p95 > 200:
            over.append(name)
    figure("console_pages_not_200", len(failed), "pages", 0)
    figure("console_pages_worst_p95", worst, "ms")
    figure("console_pages_over_200ms", len(over), "pages", 0)
    figure("console_heaviest_page_weight", heaviest, "KB")
    figure("console_chart_library_weight_once", chart_kb, "KB")
    if over:
        note(f"over 200 ms: {', '.join(over)}")


#: Written last into a kept database: a build that was interrupted is never reused.
BUILT = "bench_console_built"


def _kept_org(url: str) -> int | None:
    """The demo org of a finished build kept in ``url``'s database, or None when the database does not
    exist; an unfinished build stops the benchmark (drop it and build again)."""
    try:
        engine = make_engine(url)
        with engine.connect() as conn:
            finished = conn.execute(text("SELECT to_regclass(:t)"), {"t": BUILT}).scalar()
            if finished is None:
                raise SystemExit(f"{url}: an unfinished build (no {BUILT} table); drop the database and build again")
            org_id = conn.execute(text("SELECT id FROM orgs WHERE code = :code"), {"code": DEMO_CODE}).scalar_one()
            shape = conn.execute(text(f"SELECT documents, items FROM {BUILT}")).one()
        engine.dispose()
    except SystemExit:
        raise
    except Exception as exc:  # the database does not exist
        if "does not exist" not in str(exc):
            raise
        return None
    note(f"reusing the kept database ({shape[0]:,} documents, {shape[1]:,} items)")
    return int(org_id)


def _app(url: str, tmp: Path) -> Any:
    from app.factory import create_app

    app = create_app({"DATABASE_URL": url, "MEDIA_ROOT": str(tmp / "media"), "LIUZHUAN_VAR_DIR": str(tmp)})
    gc.freeze()  # as a served worker does once the app is loaded (gunicorn.conf.py)
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--db", choices=("postgres", "sqlite"), default="postgres")
    parser.add_argument("-n", type=int, default=20, help="requests per page after two warm-ups")
    parser.add_argument("--documents", type=int, default=100_000)
    parser.add_argument("--items", type=int, default=2_000)
    parser.add_argument("--keep-db", metavar="NAME", help="PostgreSQL: build into database NAME and keep it, "
                        "or reuse it if it holds a finished build")
    parser.add_argument("--pages", help="comma-separated page names to time (default: every page)")
    args = parser.parse_args()
    if args.keep_db and args.db != "postgres":
        parser.error("--keep-db needs --db postgres")
    only = {p.strip() for p in args.pages.split(",") if p.strip()} if args.pages else None
    tmp = Path(tempfile.mkdtemp(prefix="bench-console-"))
    name = args.keep_db or "liuzhuan_bench_console"
    org_id = _kept_org(pg_url(name)) if args.keep_db else None
    if org_id is not None:
        url = pg_url(name)
        migrate(url)  # indexes or columns added since the build
        app = _app(url, tmp)
    else:
        url = fresh_migrated_postgres(name) if args.db == "postgres" else fresh_migrated_sqlite(tmp, "console.db")
    try:
        if org_id is None:
            note(f"scaling the demo co-operative to {args.documents:,} documents on {args.db}")
            began = time.perf_counter()
            app, demo = _scale(url, tmp, args.documents, args.items)
            org_id = demo.org_id
            figure("console_scale_build_s", time.perf_counter() - began, "s")
            if args.keep_db:
                with make_engine(url).begin() as conn:
                    conn.execute(text(f"CREATE TABLE {BUILT} (documents integer, items integer)"))
                    conn.execute(text(f"INSERT INTO {BUILT} VALUES (:d, :i)"),
                                 {"d": args.documents, "i": args.items})
        if args.db == "postgres":
            # A live database has been through autovacuum since these rows were written: without the
            # visibility map a freshly built one cannot use index-only scans (the 72-hour cash lump
            # took 190 ms instead of 130 ms on the open-lines index).
            with make_engine(url).connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(text("VACUUM ANALYZE"))
        _measure(app, org_id, url, args.n, only)
    finally:
        if args.db == "postgres" and not args.keep_db:
            drop_postgres_database(name)


if __name__ == "__main__":
    main()
