"""The lean shipment: FEFO and costing as pure functions over plain balance rows, rows on the posting
writer, one read round trip on PostgreSQL, and reads that see what the transaction changed through
the ORM."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from models.actor import Actor
from models.base import utcnow
from models.documents import Document
from models.errors import InsufficientStock, StockFrozen
from models.finance import Voucher
from models.infra import IdempotencyRecord, OutboxEvent
from models.ledger import BalanceRow, FreezeRow, choose_fefo, plan_issue
from models.operations import ShipGoods, ship_goods
from models.stock import Balance, Freeze, FreezeDirection, QcStatus, StockMove
from models.uow import run
from tests.factories import receive
from tests.models.test_unit_of_work import wire_trace


class _Item:
    id, name, base_unit = 1, "茶青", "公斤"


class _Site:
    id, name, allow_negative = 1, "总仓", False


def _row(lot_id: int, on_hand: str, value: str, *, expires: date | None = None, reserved: str = "0",
         qc: QcStatus = QcStatus.PENDING) -> BalanceRow:
    return BalanceRow(id=lot_id, lot_id=lot_id, on_hand=D(on_hand), reserved=D(reserved), value=D(value),
                      lot_code=f"L{lot_id}", qc_status=qc, expires_on=expires, received_on=date(2026, 11, lot_id))


def _ship(rows: list[BalanceRow], quantity: str, freezes: tuple[FreezeRow, ...] = ()) -> list:
    picks = choose_fefo(_Item(), _Site(), rows, {r.lot_id: r for r in rows}, freezes, D(quantity))
    return plan_issue(picks, rows)


def test_fefo_and_the_moving_average_need_no_database():
    rows = [_row(1, "10", "100.00"), _row(2, "10", "300.00", expires=date(2026, 12, 20))]
    lines = _ship(rows, "12")
    # The lot that expires first goes first, all at the site's average (20.00), whatever the lot cost.
    assert [(ln.balance.lot_id, ln.quantity, ln.value) for ln in lines if ln.issue] == [
        (2, D("-10"), D("-200.00")), (1, D("-2"), D("-40.00"))]
    # Lot 2 is empty but still carries 100.00: it moves to the lot holding stock, in a zero-quantity pair.
    shifts = [(ln.balance.lot_id, ln.quantity, ln.value) for ln in lines if not ln.issue]
    assert shifts == [(2, D(0), D("-100.00")), (1, D(0), D("100.00"))]
    assert rows[0].on_hand == D("10") and rows[1].value == D("300.00")  # the plan changed no row


def test_emptying_the_site_takes_every_lots_whole_value():
    rows = [_row(1, "3", "10.00"), _row(2, "3", "10.01")]
    lines = _ship(rows, "6")
    assert sum((ln.value for ln in lines), D(0)) == D("-20.01")
    assert all(ln.issue for ln in lines)


def test_reserved_frozen_and_failed_lots_are_not_picked():
    rows = [_row(1, "5", "50.00", reserved="5"), _row(2, "5", "50.00", qc=QcStatus.FAILED), _row(3, "5", "50.00")]
    frozen = FreezeRow(id=9, direction=FreezeDirection.OUTBOUND, lot_id=3, reason="复检")
    with pytest.raises(StockFrozen):
        _ship(rows, "1", (frozen,))
    with pytest.raises(InsufficientStock):
        _ship(rows, "6")
    assert [ln.balance.lot_id for ln in _ship(rows, "5") if ln.issue] == [3]


def test_a_freeze_added_earlier_in_the_same_transaction_stops_the_shipment(session_factory, demo):
    """The shipment's reads go past the ORM; they must still see the transaction's own ORM changes."""
    receive(session_factory, demo, 10, site="SX")
    actor = Actor.system_actor(demo.org_id)
    with session_factory() as s:
        s.add(Freeze(org_id=demo.org_id, item_id=demo.items["茶青"], site_id=demo.sites["SX"],
                     direction=FreezeDirection.OUTBOUND, reason="农残复检", active=True))
        with pytest.raises(StockFrozen):
            ship_goods(s, actor, ShipGoods(site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=D(1),
                                           party_id=demo.parties["杭州茶城"], unit_price=D(100)))
        s.rollback()


def test_every_row_of_a_shipment_agrees_with_its_answer_and_the_balance_with_its_moves(session_factory, demo):
    first = receive(session_factory, demo, 10, site="SX", business_time=utcnow())
    receive(session_factory, demo, 5, site="SX")
    key = f"ship-{demo.org_id}"
    cmd = ShipGoods(site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=D(12),
                    party_id=demo.parties["杭州茶城"], unit_price=D(100))
    actor = Actor.system_actor(demo.org_id)
    shipped = run(session_factory, ship_goods, actor, cmd, idempotency_key=key)
    assert shipped.number.startswith("CK-SX-") and "@@" not in shipped.number + (shipped.voucher_number or "")
    assert shipped.picks[0].lot_id == first.lot_id and sum(p.quantity for p in shipped.picks) == D(12)
    with session_factory() as s:
        assert s.get_one(Document, shipped.document_id).number == shipped.number
        voucher = s.scalar(select(Voucher).where(Voucher.document_id == shipped.document_id))
        assert voucher.number == shipped.voucher_number and voucher.summary.startswith(shipped.number)
        event_ = s.scalar(select(OutboxEvent).where(OutboxEvent.document_id == shipped.document_id))
        assert event_.payload["number"] == shipped.number
        record = s.scalar(select(IdempotencyRecord).where(IdempotencyRecord.key == key))
        assert record.result["number"] == shipped.number
        for bal in s.scalars(select(Balance).where(Balance.site_id == demo.sites["SX"])):
            moved = s.execute(select(func.sum(StockMove.quantity), func.sum(StockMove.value)).where(
                StockMove.site_id == bal.site_id, StockMove.lot_id == bal.lot_id)).one()
            assert (bal.on_hand, bal.value) == (moved[0], moved[1])
    assert run(session_factory, ship_goods, actor, cmd, idempotency_key=key) == shipped


def test_a_shipment_on_postgresql_is_one_connection_and_a_few_round_trips(engine, demo):
    if engine.dialect.name != "postgresql":
        pytest.skip("round trips are a PostgreSQL figure")
    from models.db import make_session_factory

    factory = make_session_factory(engine)
    receive(factory, demo, 40, site="SX")
    actor = Actor.system_actor(demo.org_id)
    cmd = ShipGoods(site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=D(1),
                    party_id=demo.parties["杭州茶城"], unit_price=D(100))
    run(factory, ship_goods, actor, cmd)  # warm: snapshot cached, statements compiled
    with wire_trace(engine) as wire:
        shipped = run(factory, ship_goods, actor, cmd)
    assert len(wire.checkouts) == 1
    assert 0 < wire.trips <= 4  # BEGIN; version, freezes, locked balances and ids; numbers, rows and COMMIT
    with factory() as s:
        assert s.get_one(Document, shipped.document_id).number == shipped.number
        assert s.scalar(select(func.count()).select_from(StockMove).where(
            StockMove.document_id == shipped.document_id)) >= 1
