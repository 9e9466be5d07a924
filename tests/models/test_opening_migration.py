"""Migration 0e5a7c3b91d4 on an organisation created before it: account 3104 利润分配 and the
期初库存 rule appear (once, however often it runs), and an opening stock posts under them."""

from __future__ import annotations

import argparse
import uuid
from decimal import Decimal as D
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

ROOT = Path(__file__).resolve().parents[2]


def test_an_existing_org_gets_the_equity_account_and_the_opening_rule(scratch_database_url):
    from app.cli import migrate
    from models.actor import Actor
    from models.catalog_snapshot import clear_cache
    from models.db import make_engine, make_session_factory
    from models.demo import seed_demo
    from models.operations.opening_stock import OpeningLine, PostOpeningStock, post_opening_stock
    from models.uow import run
    from tests.factories import voucher_lines

    url = scratch_database_url
    migrate(url)
    engine = make_engine(url)
    try:
        sf = make_session_factory(engine)
        demo = run(sf, seed_demo, f"m-{uuid.uuid4().hex[:8]}")
        cfg = Config(str(ROOT / "alembic.ini"))
        cfg.cmd_opts = argparse.Namespace(x=[f"url={url}"])
        command.downgrade(cfg, "c0a1b2c3d4e5")
        with engine.begin() as conn:  # as an org created before opening stock
            conn.execute(sa.text("DELETE FROM accounts WHERE code = '3104'"))
            assert conn.scalar(sa.text("SELECT count(*) FROM mapping_rules WHERE event = 'opening.posted'")) == 0
        command.upgrade(cfg, "head")
        with engine.connect() as conn:
            accounts = conn.execute(sa.text("SELECT name, category, normal_side FROM accounts "
                                            "WHERE org_id = :o AND code = '3104'"), {"o": demo.org_id}).all()
            rules = conn.execute(sa.text("SELECT name, version, active, family_id, id FROM mapping_rules "
                                         "WHERE org_id = :o AND event = 'opening.posted'"), {"o": demo.org_id}).all()
        assert accounts == [("利润分配", "EQUITY", "credit")]
        assert [(n, v, bool(a), f == i) for n, v, a, f, i in rules] == [("期初库存", 1, True, True)]

        clear_cache()
        result = run(sf, post_opening_stock, Actor.system_actor(demo.org_id), PostOpeningStock(
            demo.sites["ZC"], (OpeningLine(demo.items["茶青"], D(4), D("25.5")),)))
        assert voucher_lines(sf, result.document_id) == [("1405", D("102.00"), D(0)), ("3104", D(0), D("102.00"))]
    finally:
        engine.dispose()
