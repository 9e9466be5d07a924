"""Migration ddd2bf2e58cf on an organisation created before it: the 应交增值税 sub-accounts appear,
the receipt and shipment rules that booked tax to 2221 get a new version booking it to 222101 /
222102 (the old version kept, inactive), other rules are left alone, and postings use the new ones."""

from __future__ import annotations

import argparse
import uuid
from decimal import Decimal as D
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory

ROOT = Path(__file__).resolve().parents[2]


def _rules(conn, org_id):
    found = conn.execute(sa.text(
        "SELECT event, name, lines, version, family_id, active FROM mapping_rules WHERE org_id = :o "
        "AND event IN ('receipt.posted', 'shipment.posted') ORDER BY event, name, version"), {"o": org_id}).all()
    return [(e, n, lines if isinstance(lines, list) else __import__("json").loads(lines), v, f, bool(a))
            for e, n, lines, v, f, a in found]


def test_an_existing_org_gets_the_sub_accounts_and_new_rule_versions(scratch_database_url):
    from app.cli import migrate
    from models.actor import Actor
    from models.catalog_snapshot import clear_cache
    from models.db import make_engine, make_session_factory
    from models.demo import seed_demo
    from models.queries.vat import vat_summary
    from models.timeutil import period_of
    from models.uow import run
    from tests.factories import receive, ship, voucher_lines

    url = scratch_database_url
    migrate(url)
    engine = make_engine(url)
    try:
        sf = make_session_factory(engine)
        demo = run(sf, seed_demo, f"m-{uuid.uuid4().hex[:8]}")
        cfg = Config(str(ROOT / "alembic.ini"))
        cfg.cmd_opts = argparse.Namespace(x=[f"url={url}"])
        # To just before this revision (wherever the merge chains it).
        before = ScriptDirectory.from_config(cfg).get_revision("ddd2bf2e58cf").down_revision
        command.downgrade(cfg, before if isinstance(before, str) else before[0])
        with engine.begin() as conn:  # as an org created before VAT: tax on the parent 2221, no sub-accounts
            conn.execute(sa.text("DELETE FROM accounts WHERE code IN ('222101', '222102')"))
            for event, name, lines, *_ in _rules(conn, demo.org_id):
                old = [dict(ln, account="2221") if ln["account"] in ("222101", "222102") else ln for ln in lines]
                conn.execute(sa.text("UPDATE mapping_rules SET lines = :l WHERE org_id = :o AND event = :e "
                                     "AND name = :n").bindparams(sa.bindparam("l", type_=sa.JSON)),
                             {"l": old, "o": demo.org_id, "e": event, "n": name})
            version_before = conn.scalar(sa.text("SELECT config_version FROM orgs WHERE id = :o"), {"o": demo.org_id})
        command.upgrade(cfg, "head")

        with engine.connect() as conn:
            codes = set(conn.execute(sa.text("SELECT code FROM accounts WHERE org_id = :o"),
                                     {"o": demo.org_id}).scalars())
            rules = _rules(conn, demo.org_id)
            version_after = conn.scalar(sa.text("SELECT config_version FROM orgs WHERE id = :o"), {"o": demo.org_id})
        assert {"2221", "222101", "222102"} <= codes
        assert version_after != version_before
        tax_accounts = {(e, n, v, a): [ln["account"] for ln in lines if ln["amount"] == "tax"]
                        for e, n, lines, v, _f, a in rules}
        assert tax_accounts == {
            ("receipt.posted", "农户交售入库", 1, True): [],  # books no tax: unchanged
            ("receipt.posted", "采购入库", 1, False): ["2221"], ("receipt.posted", "采购入库", 2, True): ["222101"],
            ("shipment.posted", "销售出库", 1, False): ["2221"], ("shipment.posted", "销售出库", 2, True): ["222102"],
        }
        families = {(e, n): f for e, n, _l, _v, f, _a in rules}
        assert len(set(families.values())) == 3  # a new version keeps its rule's family

        clear_cache()
        receive(sf, demo, 10, item="龙井", party="包装厂", grade=None, unit_price=D(20), tax_rate=D("0.13"))
        sold = ship(sf, demo, 1, item="龙井", unit_price=D(100), tax_rate=D("0.13"))
        assert ("222102", D(0), D("13.00")) in voucher_lines(sf, sold.document_id)
        with sf() as s:
            summary = vat_summary(s, Actor.system_actor(demo.org_id), period_of(sold.business_time))
        assert (summary.output_tax, summary.input_tax, summary.tax_payable, summary.balanced) == (
            D("13.00"), D("26.00"), D("-13.00"), True)
    finally:
        engine.dispose()
