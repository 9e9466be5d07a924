"""The unit of work: catalog snapshot keyed by config version, and the posting writer's guarantees."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from decimal import Decimal as D
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, func, select, update

from models.actor import Actor
from models.catalog import Dimension, Grade
from models.catalog_snapshot import (
    CatalogSnapshot,
    GradeInfo,
    ItemInfo,
    OrgInfo,
    PartyInfo,
    SiteInfo,
    snapshot_for,
)
from models.catalog_snapshot import current_version as config_version
from models.documents import Document
from models.errors import MappingMissing, PriceOverrideDenied, StockFrozen, ValidationError
from models.finance import MappingRule
from models.ledger import FreezeRow
from models.operations import ReceiveGoods, SetGradePrice, receive_goods, receiving, set_grade_price
from models.org import PartyKind, Role, SiteKind
from models.stock import FreezeDirection, StockMove
from models.unit_of_work import UnitOfWork
from models.uow import run
from tests.factories import receive


def _version(session_factory, org_id: int) -> str:
    with session_factory() as s:
        return config_version(s, org_id)


def test_a_price_change_gives_a_new_version_and_the_next_receipt_its_price(session_factory, demo, actors):
    first = receive(session_factory, demo, 10)
    assert first.unit_price == D("80")  # the demo's 一级 price, from the cached snapshot
    before = _version(session_factory, demo.org_id)
    run(session_factory, set_grade_price, actors["赵经理"],
        SetGradePrice(grade_id=demo.grades["一级"], purchase_price=D("9.5"), reason="行情"))
    assert _version(session_factory, demo.org_id) != before
    assert receive(session_factory, demo, 10).unit_price == D("9.5")


def test_an_unchanged_org_keeps_its_snapshot_and_a_bulk_update_replaces_it(session_factory, demo):
    receive(session_factory, demo, 1)
    with session_factory() as s:
        version = config_version(s, demo.org_id)
        assert snapshot_for(s, demo.org_id) is snapshot_for(s, demo.org_id)
    # A bulk UPDATE of master data names no org the session can see: every version moves.
    with session_factory() as s:
        s.execute(update(Grade).where(Grade.id == demo.grades["一级"]).values(purchase_price=D("7")))
        s.commit()
    assert _version(session_factory, demo.org_id) != version
    assert receive(session_factory, demo, 1).unit_price == D("7")


def test_posting_data_does_not_move_the_version(session_factory, demo):
    receive(session_factory, demo, 1)
    version = _version(session_factory, demo.org_id)
    receive(session_factory, demo, 2)
    assert _version(session_factory, demo.org_id) == version


def test_a_failed_posting_leaves_no_queued_row_for_the_next_one(session_factory, demo, actors):
    """A receipt that fails after queuing its rows (no mapping rule) writes nothing, and a later
    operation in the same transaction does not send them."""
    clerk = actors["小周"]
    with session_factory() as s:
        s.execute(update(MappingRule).where(MappingRule.org_id == demo.org_id, MappingRule.event == "receipt.posted")
                  .values(active=False))
        cmd = ReceiveGoods(site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=D("3"),
                           party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"])
        documents = s.scalar(select(func.count()).select_from(Document))
        with pytest.raises(MappingMissing):
            receive_goods(s, clerk, cmd)
        s.execute(update(MappingRule).where(MappingRule.org_id == demo.org_id, MappingRule.event == "receipt.posted")
                  .values(active=True))
        receive_goods(s, clerk, cmd)
        assert s.scalar(select(func.count()).select_from(Document)) == documents + 1
        s.rollback()


def test_a_savepoint_rollback_drops_what_its_operation_queued(session_factory, demo, actors):
    clerk = actors["小周"]
    cmd = ReceiveGoods(site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=D("3"),
                       party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"])
    with session_factory() as s:
        moves = s.scalar(select(func.count()).select_from(StockMove))
        nested = s.begin_nested()
        receive_goods(s, clerk, cmd)
        nested.rollback()
        receive_goods(s, clerk, cmd)
        s.commit()
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(StockMove)) == moves + 1


def test_two_receipts_in_one_transaction_get_distinct_ids_and_numbers(session_factory, demo, actors):
    clerk = actors["小周"]
    cmd = ReceiveGoods(site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=D("3"),
                       party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"])
    with session_factory() as s:
        a = receive_goods(s, clerk, cmd)
        b = receive_goods(s, clerk, replace(cmd, quantity=D("4")))
        s.commit()
    assert a.document_id != b.document_id and a.number != b.number and a.lot_id != b.lot_id
    assert a.voucher_number != b.voucher_number
    with session_factory() as s:
        assert s.get(Document, b.document_id).number == b.number


# --- The business path without a database: the plan is a function of the snapshot and the facts read.

def _catalog() -> CatalogSnapshot:
    return CatalogSnapshot(
        org=OrgInfo(id=1, prepayment_ratio=D("0.7"), settings={}), version="v1",
        sites={1: SiteInfo(id=1, code="SX", name="绍兴", kind=SiteKind.COLLECTION_POINT, allow_negative=False,
                           active=True)},
        items={1: ItemInfo(id=1, code="CQ", name="茶青", base_unit="公斤", dimension=Dimension.MASS,
                           shelf_life_days=None, active=True, unit_factors={"公斤": D(1), "斤": D("0.5")},
                           grade_ids=(1,))},
        grades={1: GradeInfo(id=1, item_id=1, name="一级", purchase_price=D("8"))},
        parties={1: PartyInfo(id=1, name="王阿姨", kind=PartyKind.FARMER, active=True)})


def _plan(cmd: ReceiveGoods, actor: Actor, freezes: tuple = ()) -> receiving._Plan:
    uow = UnitOfWork(session=None, actor=actor, catalog=_catalog(), writer=None)  # type: ignore[arg-type]
    return receiving._plan(uow, actor, cmd, receiving._Facts(freezes=freezes, lot=None))


def test_a_receipt_is_priced_from_the_snapshot_without_a_database():
    clerk = Actor(org_id=1, member_id=5, roles=((Role.CLERK, None),))
    plan = _plan(ReceiveGoods(site_id=1, item_id=1, quantity=D("47"), unit="斤", party_id=1, grade_id=1), clerk)
    assert (plan.quantity, plan.price, plan.goods) == (D("23.5"), D("8"), D("188.00"))
    with pytest.raises(PriceOverrideDenied):
        _plan(ReceiveGoods(site_id=1, item_id=1, quantity=D("1"), party_id=1, grade_id=1, unit_price=D("9")), clerk)
    with pytest.raises(ValidationError):  # a farmer's goods need a grade
        _plan(ReceiveGoods(site_id=1, item_id=1, quantity=D("1"), party_id=1), clerk)
    frozen = FreezeRow(id=3, direction=FreezeDirection.INBOUND, lot_id=None, reason="农残复检")
    with pytest.raises(StockFrozen):
        _plan(ReceiveGoods(site_id=1, item_id=1, quantity=D("1"), party_id=1, grade_id=1), clerk, (frozen,))


# --- The wire: one connection and a handful of round trips per receipt on PostgreSQL.

def _round_trips(trace: str) -> int:
    trips, last = 0, ""
    for line in trace.splitlines():
        direction = line.split("\t", 1)[0]
        if direction == "F" and last != "F":
            trips += 1
        if direction in ("F", "B"):
            last = direction
    return trips


@dataclass
class WireTrace:
    """What one traced call did on the wire: the pooled connections it checked out, its round trips."""

    checkouts: list[object] = field(default_factory=list)
    trips: int = 0


@contextmanager
def wire_trace(engine) -> Iterator[WireTrace]:
    """Trace (libpq) every connection checked out inside the block; count round trips after it."""
    found = WireTrace()
    fd, path = tempfile.mkstemp(suffix=".trace")

    def traced(dbapi_conn, *_args) -> None:
        found.checkouts.append(dbapi_conn)
        dbapi_conn.pgconn.trace(fd)
        dbapi_conn.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)

    event.listen(engine.pool, "checkout", traced)
    try:
        yield found
    finally:
        event.remove(engine.pool, "checkout", traced)
        for conn in found.checkouts:
            conn.pgconn.untrace()
        os.close(fd)
        found.trips = _round_trips(Path(path).read_text(errors="replace"))
        Path(path).unlink()


def _warm_receipt(engine, demo, actors) -> tuple[Any, ReceiveGoods]:
    """A session factory and a farmer receipt already posted once through it (snapshot cached,
    statements compiled), so what is measured next is a warm receipt."""
    from models.db import make_session_factory

    factory = make_session_factory(engine)
    cmd = ReceiveGoods(site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=D("20"), unit="斤",
                       party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"])
    run(factory, receive_goods, actors["小周"], cmd)
    return factory, cmd


def test_a_farmer_receipt_on_postgresql_is_one_connection_and_a_few_round_trips(engine, demo, actors):
    if engine.dialect.name != "postgresql":
        pytest.skip("round trips are a PostgreSQL figure")
    factory, cmd = _warm_receipt(engine, demo, actors)
    with wire_trace(engine) as wire:
        receipt = run(factory, receive_goods, actors["小周"], cmd)
    assert len(wire.checkouts) == 1  # (a new block of numbers, when one is due, comes from the side pool)
    assert 0 < wire.trips <= 4  # BEGIN; version, freezes and ids; rows and COMMIT (target: at most 6)
    with factory() as s:  # and in those round trips it was all written and committed
        assert s.get_one(Document, receipt.document_id).number == receipt.number
        assert s.scalar(select(func.count()).select_from(StockMove).where(
            StockMove.document_id == receipt.document_id)) == 1


def test_every_row_carries_the_numbers_the_answer_gives(session_factory, demo, actors):
    """The document, lot, voucher, event, audit and idempotency rows and the answer all carry the
    same numbers, and the next receipt gets the next ones."""
    from models.finance import Voucher
    from models.infra import AuditEntry, IdempotencyRecord, OutboxEvent
    from models.stock import Lot

    cmd = ReceiveGoods(site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=D("12"),
                       party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"], unit_price=D("81"),
                       price_reason="品质好")
    key = f"k-{demo.org_id}-numbers"
    r = run(session_factory, receive_goods, actors["赵经理"], cmd, idempotency_key=key)
    assert r.number.startswith("RK-SX-") and r.lot_code == r.number.removeprefix("RK-")
    assert r.voucher_number and r.voucher_number.startswith("记-") and "@@" not in r.voucher_number + r.number
    with session_factory() as s:
        doc = s.get(Document, r.document_id)
        assert doc.number == r.number
        assert s.get(Lot, r.lot_id).code == r.lot_code
        voucher = s.scalar(select(Voucher).where(Voucher.document_id == r.document_id))
        assert voucher.number == r.voucher_number and voucher.summary.startswith(r.number)
        event_ = s.scalar(select(OutboxEvent).where(OutboxEvent.document_id == r.document_id))
        assert event_.payload["number"] == r.number
        audit = s.scalar(select(AuditEntry).where(AuditEntry.action == "receipt.price_override",
                                                  AuditEntry.entity_id == str(r.document_id)))
        assert audit.after["number"] == r.number
        record = s.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == key))
        assert record.result["number"] == r.number and record.result["voucher_number"] == r.voucher_number
    assert run(session_factory, receive_goods, actors["赵经理"], cmd, idempotency_key=key) == r
    # And the next one is the next number.
    r2 = run(session_factory, receive_goods, actors["赵经理"], replace(cmd, quantity=D("13")))
    assert int(r2.number.rsplit("-", 1)[1]) == int(r.number.rsplit("-", 1)[1]) + 1


def test_a_number_of_a_rolled_back_posting_is_handed_out_again(session_factory, demo):
    """No gap from a failed posting: its number goes to the next one (PostgreSQL: back into this
    process's block; SQLite: the counter's bump rolled back with it)."""
    from models.posting_writer import writer_for

    with session_factory() as s:
        [first] = writer_for(s).numbers(demo.org_id, [("TEST", "20261205", 4)])
        s.rollback()
    with session_factory() as s:
        [again] = writer_for(s).numbers(demo.org_id, [("TEST", "20261205", 4)])
        s.commit()
    with session_factory() as s:
        [after] = writer_for(s).numbers(demo.org_id, [("TEST", "20261205", 4)])
        s.commit()
    assert (first, again, after) == ("0001", "0001", "0002")


# --- One statement: on PostgreSQL a posting's rows and balance changes go as one INSERT … (CTEs).

def _sent_statements(factory, fn, *args) -> list[int]:
    """Statements the posting writer sent in each transaction committed by ``run(factory, fn, *args)``."""
    from models.posting_writer import writer_for

    sent: list[int] = []

    def on_commit(session) -> None:
        sent.append(writer_for(session).statements)

    event.listen(factory, "after_commit", on_commit)
    try:
        run(factory, fn, *args)
    finally:
        event.remove(factory, "after_commit", on_commit)
    return sent


def test_a_farmer_receipt_on_postgresql_writes_its_rows_in_one_statement(engine, demo, actors):
    if engine.dialect.name != "postgresql":
        pytest.skip("one statement is the PostgreSQL path (SQLite has no round trips to save)")
    factory, cmd = _warm_receipt(engine, demo, actors)
    # The version with the new ids, the freezes; then document, line, lot, move, voucher and lines,
    # settlement, event and balance: one statement.
    assert _sent_statements(factory, receive_goods, actors["小周"], cmd) == [3]


def test_the_one_statement_leaves_unusual_shapes_to_a_statement_per_table():
    from models.documents import DocumentLine
    from models.posting_writer import _one_statement, table_of

    lines = table_of(DocumentLine)

    def change(lot_id: int) -> dict:
        return {"org_id": 1, "item_id": 1, "site_id": 1, "lot_id": lot_id, "on_hand": D(1), "reserved": D(0),
                "value": D(0)}

    row = {"org_id": 1, "document_id": 1, "line_no": 1, "item_id": 1, "quantity": D(1)}
    one = {("document_lines", tuple(row)): (lines, [row])}
    sql, params = _one_statement(one, [change(1), change(2)])
    assert sql.startswith(b"WITH w0 AS (INSERT INTO document_lines") and b"ON CONFLICT" in sql
    assert b"RETURNING" not in sql and len(params) == sql.count(b"$") >= len(row) + 2 * 7
    assert _one_statement(one, [change(1), change(1)]) is None  # one upsert cannot change a row twice
    many = {("document_lines", tuple(row)): (lines, [dict(row, line_no=n) for n in range(1, 80)])}
    assert _one_statement(many, []) is None


def test_a_balance_changed_twice_in_one_send_adds_both_changes(session_factory, demo):
    """The statement-per-table path (one upsert cannot change a row twice): both changes land."""
    from models.posting_writer import writer_for
    from models.stock import Balance

    r = receive(session_factory, demo, 10)
    with session_factory() as s:
        bal = s.scalar(select(Balance).where(Balance.lot_id == r.lot_id))
        before, item_id, site_id = bal.on_hand, bal.item_id, bal.site_id
        writer = writer_for(s)
        writer.bump_balance(demo.org_id, item_id, site_id, r.lot_id, D("1.5"), D(0))
        writer.bump_balance(demo.org_id, item_id, site_id, r.lot_id, D("2"), D(0))
        writer.send()
        s.commit()
    with session_factory() as s:
        assert s.scalar(select(Balance.on_hand).where(Balance.lot_id == r.lot_id)) == before + D("3.5")
