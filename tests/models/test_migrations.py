"""Migrations and models agree (the equivalent of ``alembic check``) on the backend under test."""

from __future__ import annotations

from decimal import Decimal as D
from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import models
from models.base import NAMING_CONVENTION

ROOT = Path(__file__).resolve().parents[2]


def _diff(engine, metadata):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "compare_type": True,
            "compare_server_default": True,
            "render_as_batch": conn.dialect.name == "sqlite",
            "user_module_prefix": "models.types.",
        })
        return compare_metadata(context, metadata)


def test_database_is_at_every_head(engine):
    """The test database carries every revision (branches from parallel work included)."""
    script = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini")))
    with engine.connect() as conn:
        assert set(MigrationContext.configure(conn).get_current_heads()) == set(script.get_heads())


def test_migrations_match_models(engine):
    """No table, column, type, nullability, index, unique or foreign key differs (no exceptions needed)."""
    diff = _diff(engine, models.Base.metadata)
    assert diff == [], "\n".join(map(repr, diff))


def test_the_comparison_does_see_differences(engine):
    """Guard the guard: a column the migrations lack and a changed type are both reported."""
    changed = sa.MetaData(naming_convention=NAMING_CONVENTION)
    for table in models.Base.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["orgs"].append_column(sa.Column("not_migrated", sa.String(8), nullable=True))
    changed.tables["parties"].c.phone.type = sa.String(99)
    diff = _diff(engine, changed)
    kinds = {(d[0], d[2], d[3].name) if d[0] == "add_column" else None for d in diff if isinstance(d, tuple)}
    assert ("add_column", "orgs", "not_migrated") in kinds
    modified = [d for d in diff if isinstance(d, list)]
    assert any(op[0] == "modify_type" and op[2:4] == ("parties", "phone") for ops in modified for op in ops)


def test_there_is_one_head():
    """`alembic upgrade head` (the README's command) works: parallel branches are merged."""
    assert len(ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini"))).get_heads()) == 1


def test_the_merge_opens_the_approval_of_a_transfer_the_relay_had_not_reached(scratch_database_url):
    """A transfer requested before approvals were opened in-transaction gets its request on upgrade."""
    import uuid

    from alembic import command

    from app.cli import migrate
    from models.actor import load_actor
    from models.approvals import ApprovalRequest
    from models.db import make_engine, make_session_factory
    from models.demo import seed_demo
    from models.documents import DocKind
    from models.infra import OutboxEvent
    from models.operations import (
        CreateOrder,
        OrderLineIn,
        RequestTransfer,
        TransferLineIn,
        create_order,
        request_transfer,
    )
    from models.uow import run

    url = scratch_database_url
    migrate(url)
    engine = make_engine(url)
    try:
        sf = make_session_factory(engine)
        demo = run(sf, seed_demo, f"m-{uuid.uuid4().hex[:8]}")
        with sf() as s:
            clerk = load_actor(s, demo.members["小周"])
        doc = run(sf, request_transfer, clerk, RequestTransfer(
            demo.sites["SX"], demo.sites["ZC"], (TransferLineIn(demo.items["茶青"], D("3")),), urgent=True))
        with sf() as s:
            purchaser = load_actor(s, demo.members["赵经理"])
        big = run(sf, create_order, purchaser, CreateOrder(DocKind.PURCHASE_ORDER, demo.sites["ZC"],
                                                           demo.parties["包装厂"],
                                                           (OrderLineIn(demo.items["龙井"], D(1000), None, D(20)),)))
        small = run(sf, create_order, purchaser, CreateOrder(DocKind.PURCHASE_ORDER, demo.sites["ZC"],
                                                             demo.parties["包装厂"],
                                                             (OrderLineIn(demo.items["龙井"], D(10), None, D(20)),)))
        waiting = [doc.document_id, big.document_id]
        with sf.begin() as s:  # as the old code left them: no request yet
            s.execute(sa.delete(ApprovalRequest).where(ApprovalRequest.document_id.in_(waiting)))
            s.execute(sa.delete(OutboxEvent).where(OutboxEvent.kind == "approval.opened",
                                                   OutboxEvent.document_id.in_(waiting)))
        cfg = Config(str(ROOT / "alembic.ini"))
        cfg.cmd_opts = __import__("argparse").Namespace(x=[f"url={url}"])
        merge = ScriptDirectory.from_config(cfg).get_revision("7ec3350228bd")
        command.stamp(cfg, list(merge.down_revision), purge=True)
        command.upgrade(cfg, "7ec3350228bd")  # the merge alone: later revisions' schema is already there
        with sf() as s:
            opened = {r.document_id: r for r in s.scalars(sa.select(ApprovalRequest).where(
                ApprovalRequest.document_id.in_([*waiting, small.document_id])))}
            assert set(opened) == set(waiting)  # the ¥200 order needs no approval
            assert [st["role"] for st in opened[doc.document_id].steps] == ["manager", "director"]
            assert [st["role"] for st in opened[big.document_id].steps] == ["manager", "director"]
            events = {e.document_id: e.payload["request_id"] for e in s.scalars(sa.select(OutboxEvent).where(
                OutboxEvent.kind == "approval.opened", OutboxEvent.document_id.in_(waiting)))}
            assert events == {d: opened[d].id for d in waiting}  # their cards go out
    finally:
        engine.dispose()
