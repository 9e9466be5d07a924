"""Command-line tasks: `python -m app.cli setup` migrates and, outside production, loads the demo organisation."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.orm import Session, sessionmaker

from app.node_sync import sync_once
from app.settings import Settings
from models import node
from models.actor import Actor, load_actor
from models.base import utcnow
from models.db import make_engine, make_session_factory
from models.demo import DemoOrg, demo_exists, seed_demo
from models.errors import DomainError
from models.operations import ReceiveGoods, RecordQc, receive_goods, record_qc
from models.operations.demand_import import ImportDemand, import_demand
from models.operations.nodes import RegisterNode, register_node
from models.operations.planning import RunForecast, run_forecast
from models.operations.replenishment import RecomputeReplenishment, recompute_replenishment
from models.queries.nodes import org_by_code, site_ids_by_code
from models.timeutil import local_date, week_start
from models.uow import run

ROOT = Path(__file__).resolve().parent.parent


def migrate(database_url: str) -> None:
    """Upgrade the database to the newest schema."""
    cfg = Config(str(ROOT / "alembic.ini"))
    cfg.cmd_opts = argparse.Namespace(x=[f"url={database_url}"])
    command.upgrade(cfg, "heads")


def demo_activity(session_factory: sessionmaker[Session], demo: DemoOrg) -> None:
    """Post two deliveries, a QC pass and opening stock of 龙井 so the console shows a living ledger."""
    with session_factory() as session:
        clerk = load_actor(session, demo.members["小周"])
        manager = load_actor(session, demo.members["赵经理"])
        director = load_actor(session, demo.members["钱总监"])
    first = run(session_factory, receive_goods, clerk, ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal("23.5"), unit="斤",
        party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"]), idempotency_key="demo-1")
    run(session_factory, receive_goods, clerk, ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal("12"), unit="公斤",
        party_id=demo.parties["李大伯"], grade_id=demo.grades["特级"]), idempotency_key="demo-2")
    if first.lot_id is None:  # 茶青 is received by grade, so its receipt always opens a lot
        raise RuntimeError("the demo delivery of 茶青 opened no lot")
    run(session_factory, record_qc, manager, RecordQc(first.lot_id, True, "色泽鲜绿，无杂叶"),
        idempotency_key="demo-3")
    # Opening stock of 龙井 jars, so the README's and the bot's 出库/调拨 龙井 examples work for 老孙.
    for key, site, cases in (("demo-4", "ZC", 5), ("demo-5", "MD", 5)):
        run(session_factory, receive_goods, director, ReceiveGoods(
            site_id=demo.sites[site], item_id=demo.items["龙井"], quantity=Decimal(cases), unit="箱",
            party_id=demo.parties["包装厂"], unit_price=Decimal("90"), price_reason="演示期初库存"),
            idempotency_key=key)


#: Demo sales history: (generator item code, generator site code) → (demo item code, demo site code).
DEMO_HISTORY = {("LJ1", "HZ"): ("LJ250", "MD"), ("LJ2", "SX"): ("LJ250", "ZC")}
DEMO_HISTORY_WEEKS = 78  # 18 months, what a co-operative would bring from its spreadsheets


def demo_planning(session_factory: sessionmaker[Session], demo: DemoOrg) -> None:
    """Import 18 months of weekly 龙井 sales for 门店 and 总仓, then forecast and plan once."""
    from forecast.demo_data import generate  # heavy (numpy): only when a demo is set up

    first = week_start(local_date(utcnow())) - timedelta(weeks=DEMO_HISTORY_WEEKS)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["商品编码", "地点编码", "周", "数量"])
    for series in generate(DEMO_HISTORY_WEEKS, start=first):
        target = DEMO_HISTORY.get((series.item, series.site))
        if target is None:
            continue
        for n, value in enumerate(series.series.values):
            writer.writerow([target[0], target[1], (first + timedelta(weeks=n)).isoformat(), f"{value:g}"])
    with session_factory() as session:
        manager = load_actor(session, demo.members["赵经理"])
    run(session_factory, import_demand, manager, ImportDemand(out.getvalue().encode(), "演示销量.csv"),
        idempotency_key="demo-history")
    run(session_factory, run_forecast, manager, RunForecast(horizon=8), idempotency_key="demo-forecast")
    run(session_factory, recompute_replenishment, manager, RecomputeReplenishment(), idempotency_key="demo-plan")


def setup(settings: Settings, demo: bool | None = None) -> None:
    """Create var/, migrate, and load the demo co-operative once.

    ``demo=None`` loads it everywhere but production: a production database must never hold a
    fictional co-operative whose members can sign in with the dev phone numbers."""
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    settings.media_root.mkdir(parents=True, exist_ok=True)
    migrate(settings.database_url)
    if demo is None:
        # An edge node's organisation comes from headquarters at its first sync: a demo seeded here
        # would collide with it.
        demo = not settings.production and settings.node_name == "server"
    if not demo:
        why = "（生产环境）" if settings.production else "（站点节点：主数据在首次同步时从总部下载）" \
            if settings.node_name != "server" else ""
        print(f"数据库已迁移到最新结构；未载入演示合作社{why}。")
        return
    engine = make_engine(settings.database_url)
    session_factory = make_session_factory(engine)
    with session_factory() as session:
        exists = demo_exists(session)
    if not exists:
        org = run(session_factory, seed_demo)
        demo_activity(session_factory, org)
        demo_planning(session_factory, org)
        print(f"已载入演示合作社（org {org.org_id}）：绍兴收购点、总仓、门店，茶青与龙井罐。")
    else:
        print("演示合作社已存在，跳过。")
    engine.dispose()


def node_register(settings: Settings, code: str, sites: str, org: str | None, name: str) -> int:
    """Register an edge node as the organisation's system actor; print its key and environment once."""
    engine = make_engine(settings.database_url)
    factory = make_session_factory(engine)
    try:
        with factory() as session:
            org_id, org_code = org_by_code(session, org)
            site_ids = site_ids_by_code(session, org_id, [c.strip() for c in sites.split(",") if c.strip()])
        actor = Actor.system_actor(org_id, "命令行")
        issued = run(factory, register_node, actor, RegisterNode(code=code, site_ids=site_ids, name=name))
    except DomainError as exc:
        print(f"登记失败：{exc.message}（{exc.code}）", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(f"已登记站点节点 {issued.code}（组织 {org_code}）。密钥只显示这一次，请现在写进节点的环境：")
    print(f"LIUZHUAN_NODE={issued.code}")
    print(f"LIUZHUAN_HQ_URL={settings.public_base_url}")
    print(f"LIUZHUAN_NODE_KEY={issued.key}")
    return 0


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m app.cli")
    sub = parser.add_subparsers(dest="cmd", required=True)
    setup_cmd = sub.add_parser("setup", help="migrate and load the demo organisation (not in production)")
    setup_cmd.add_argument("--no-demo", action="store_true", help="migrate only, whatever LIUZHUAN_ENV says")
    sub.add_parser("migrate", help="upgrade the database schema")
    node_cmd = sub.add_parser("node", help="edge nodes at headquarters").add_subparsers(dest="node_cmd", required=True)
    register_cmd = node_cmd.add_parser("register", help="register an edge node and print its key (once)")
    register_cmd.add_argument("code", help="node code: 1-8 capital letters or digits")
    register_cmd.add_argument("--sites", required=True, help="site codes it serves, comma-separated (SX,ZC)")
    register_cmd.add_argument("--org", help="organisation code (needed when the database holds several)")
    register_cmd.add_argument("--name", default="", help="a readable name (绍兴收购点节点)")
    sync_cmd = sub.add_parser("sync", help="on an edge node: exchange with headquarters")
    sync_cmd.add_argument("--once", action="store_true", required=True, help="one exchange, then exit")
    args = parser.parse_args(argv)
    try:
        settings = Settings.from_env()
    except DomainError as exc:  # a wrong setting: say which, in one line, not a traceback
        print(f"设置有误：{exc.message}", file=sys.stderr)
        raise SystemExit(2) from None
    # What the CLI posts (the demo's receipts) is numbered as this node; restored after, since tests
    # call main() in their own process.
    previous = node.current()
    node.configure(settings.node_name)
    try:
        _run(args, settings)
    finally:
        node.configure(previous)


def _run(args: argparse.Namespace, settings: Settings) -> None:
    if args.cmd == "setup":
        setup(settings, demo=False if args.no_demo else None)
    elif args.cmd == "node":
        raise SystemExit(node_register(settings, args.code, args.sites, args.org, args.name))
    elif args.cmd == "sync":
        engine = make_engine(settings.database_url)
        try:
            status = sync_once(settings, make_session_factory(engine))
        finally:
            engine.dispose()
        raise SystemExit(status)
    else:
        migrate(settings.database_url)

if __name__ == "__main__":
    main()
