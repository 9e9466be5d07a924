"""Quality checks and freezes: a failed lot stops everywhere; a manual freeze stops one direction."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from models.errors import InsufficientStock, InvalidState, NotFound, PermissionDenied, StockFrozen, ValidationError
from models.finance import FarmerSettlement, SettlementStatus, Voucher
from models.infra import OutboxEvent
from models.operations import (
    FreezeStock,
    ReceiveGoods,
    RecordQc,
    SettleFarmer,
    ShipGoods,
    UnfreezeStock,
    freeze_stock,
    receive_goods,
    record_qc,
    settle_farmer,
    ship_goods,
    unfreeze_stock,
)
from models.queries import lot_levels, stock_level
from models.stock import Freeze, FreezeDirection, Lot, QcStatus, StockMove
from models.uow import run
from tests.factories import assert_books_ok


def _receive(sf, demo, actor, qty, site="SX", party="王阿姨", grade="一级", **kw):
    return run(sf, receive_goods, actor, ReceiveGoods(
        site_id=demo.sites[site], item_id=demo.items["茶青"], quantity=D(qty),
        party_id=demo.parties[party], grade_id=demo.grades[grade], **kw))


def _ship(sf, demo, actor, qty, site="SX", **kw):
    return run(sf, ship_goods, actor, ShipGoods(
        site_id=demo.sites[site], item_id=demo.items["茶青"], quantity=D(qty), unit_price=D(150),
        party_id=demo.parties["杭州茶城"], **kw))


def _settlement(sf, receipt_id):
    with sf() as s:
        return s.scalars(select(FarmerSettlement).where(FarmerSettlement.receipt_id == receipt_id)).one().status


def _on_hand(sf, demo, site):
    with sf() as s:
        return stock_level(s, demo.org_id, demo.items["茶青"], demo.sites[site]).on_hand


def _moves(sf, demo):
    with sf() as s:
        return s.scalar(select(func.count()).select_from(StockMove).where(StockMove.org_id == demo.org_id))


def test_qc_fail_freezes_the_lot_everywhere_and_withholds_the_balance(session_factory, demo, actors):
    sf = session_factory
    receipt = _receive(sf, demo, actors["小周"], 10)  # 10 kg × ¥80 = 800; prepayment 560
    paid = run(sf, settle_farmer, actors["吴会计"], SettleFarmer(demo.parties["王阿姨"]))
    assert paid.amount == D(560)
    assert _settlement(sf, receipt.document_id) == SettlementStatus.PREPAID

    result = run(sf, record_qc, actors["赵经理"], RecordQc(receipt.lot_id, False, "农残超标"))
    assert result.qc_status == "failed" and result.freeze_id is not None and result.settlements_released == 0
    with sf() as s:
        lot = s.get_one(Lot, receipt.lot_id)
        freeze = s.get_one(Freeze, result.freeze_id)
        event = s.scalars(select(OutboxEvent).where(
            OutboxEvent.org_id == demo.org_id, OutboxEvent.kind == "lot.qc_failed")).one()
        levels = lot_levels(s, demo.org_id, demo.items["茶青"], demo.sites["SX"])
    assert lot.qc_status == QcStatus.FAILED
    assert (freeze.direction, freeze.site_id, freeze.lot_id, freeze.active) == (
        FreezeDirection.BOTH, None, receipt.lot_id, True)
    assert "农残超标" in freeze.reason and freeze.created_by == demo.members["赵经理"]
    assert event.payload["lot_id"] == receipt.lot_id and event.payload["freeze_id"] == result.freeze_id
    assert [(lv.lot_id, lv.frozen) for lv in levels] == [(receipt.lot_id, True)]
    assert _settlement(sf, receipt.document_id) == SettlementStatus.WITHHELD

    moves = _moves(sf, demo)
    with pytest.raises(StockFrozen):  # FEFO finds only the failed lot
        _ship(sf, demo, actors["小周"], 1)
    with pytest.raises(StockFrozen):  # nor may anyone ask for it by name
        _ship(sf, demo, actors["小周"], 1, lot_id=receipt.lot_id)
    # Inbound too, at any site: the failed lot cannot come into 总仓 either.
    with pytest.raises(StockFrozen):
        _receive(sf, demo, actors["老孙"], 1, site="ZC", lot_code=receipt.lot_code)
    assert _moves(sf, demo) == moves
    with pytest.raises(ValidationError):  # the withheld balance is not due
        run(sf, settle_farmer, actors["吴会计"], SettleFarmer(demo.parties["王阿姨"]))
    assert_books_ok(sf, demo.org_id)


def test_failed_lot_does_not_block_other_lots(session_factory, demo, actors):
    sf = session_factory
    bad = _receive(sf, demo, actors["小周"], 10)
    good = _receive(sf, demo, actors["小周"], 4, grade="特级")
    run(sf, record_qc, actors["赵经理"], RecordQc(bad.lot_id, False, "发霉"))
    shipped = _ship(sf, demo, actors["小周"], 3)
    assert [(p.lot_id, p.quantity) for p in shipped.picks] == [(good.lot_id, D(3))]
    with pytest.raises(InsufficientStock) as err:  # only 1 kg of a good lot left; the rest is frozen
        _ship(sf, demo, actors["小周"], 2)
    assert err.value.details["available"] == "1"
    assert _on_hand(sf, demo, "SX") == D(11)
    assert_books_ok(sf, demo.org_id)


def test_qc_pass_after_fail_releases_freeze_and_balance(session_factory, demo, actors):
    sf = session_factory
    receipt = _receive(sf, demo, actors["小周"], 10)
    run(sf, settle_farmer, actors["吴会计"], SettleFarmer(demo.parties["王阿姨"]))
    failed = run(sf, record_qc, actors["赵经理"], RecordQc(receipt.lot_id, False, "水分偏高"))

    passed = run(sf, record_qc, actors["钱总监"], RecordQc(receipt.lot_id, True, "复检合格"))
    assert passed.qc_status == "passed" and passed.freeze_id is None and passed.settlements_released == 1
    with sf() as s:
        freeze = s.get_one(Freeze, failed.freeze_id)
        assert not freeze.active and freeze.released_by == demo.members["钱总监"] and freeze.released_at
        assert s.get_one(Lot, receipt.lot_id).qc_status == QcStatus.PASSED
    assert _settlement(sf, receipt.document_id) == SettlementStatus.BALANCE_DUE

    balance = run(sf, settle_farmer, actors["吴会计"], SettleFarmer(demo.parties["王阿姨"]))
    assert balance.amount == D(240) and [i.stage for i in balance.items] == ["balance"]
    assert _settlement(sf, receipt.document_id) == SettlementStatus.SETTLED
    assert _ship(sf, demo, actors["小周"], 4).cost == D(320)
    assert _on_hand(sf, demo, "SX") == D(6)
    assert_books_ok(sf, demo.org_id)


def test_qc_freeze_lifts_only_by_a_passing_check(session_factory, demo, actors):
    sf = session_factory
    receipt = _receive(sf, demo, actors["小周"], 10)
    failed = run(sf, record_qc, actors["赵经理"], RecordQc(receipt.lot_id, False, "异物"))
    with pytest.raises(InvalidState):
        run(sf, unfreeze_stock, actors["钱总监"], UnfreezeStock(failed.freeze_id, "先放行"))
    with sf() as s:
        assert s.get_one(Freeze, failed.freeze_id).active
    assert_books_ok(sf, demo.org_id)


def test_qc_fail_needs_a_note_and_qc_permission(session_factory, demo, actors):
    sf = session_factory
    receipt = _receive(sf, demo, actors["小周"], 10)
    for note in ("", "  "):
        with pytest.raises(ValidationError):
            run(sf, record_qc, actors["赵经理"], RecordQc(receipt.lot_id, False, note))
    for name in ("小周", "吴会计", "王阿姨"):
        with pytest.raises(PermissionDenied):
            run(sf, record_qc, actors[name], RecordQc(receipt.lot_id, True))
    with pytest.raises(NotFound):
        run(sf, record_qc, actors["赵经理"], RecordQc(10**9, False, "无此批次"))
    with sf() as s:
        assert s.get_one(Lot, receipt.lot_id).qc_status == QcStatus.PENDING
        assert s.scalar(select(func.count()).select_from(Freeze).where(Freeze.org_id == demo.org_id)) == 0
    assert _settlement(sf, receipt.document_id) == SettlementStatus.PREPAYMENT_DUE
    assert_books_ok(sf, demo.org_id)


def test_outbound_freeze_at_a_site_blocks_shipping_not_receiving(session_factory, demo, actors):
    sf = session_factory
    _receive(sf, demo, actors["小周"], 10)
    _receive(sf, demo, actors["老孙"], 10, site="ZC")
    frozen = run(sf, freeze_stock, actors["赵经理"], FreezeStock(
        demo.items["茶青"], FreezeDirection.OUTBOUND, "客户投诉待查", site_id=demo.sites["SX"]))
    assert frozen.active

    with pytest.raises(StockFrozen):
        _ship(sf, demo, actors["小周"], 1)
    _receive(sf, demo, actors["小周"], 2)  # inbound still open
    assert _ship(sf, demo, actors["老孙"], 1, site="ZC").quantity == D(1)  # other sites unaffected
    assert (_on_hand(sf, demo, "SX"), _on_hand(sf, demo, "ZC")) == (D(12), D(9))

    released = run(sf, unfreeze_stock, actors["赵经理"], UnfreezeStock(frozen.freeze_id, "查清了"))
    assert not released.active
    with pytest.raises(InvalidState):
        run(sf, unfreeze_stock, actors["赵经理"], UnfreezeStock(frozen.freeze_id, "再解一次"))
    assert _ship(sf, demo, actors["小周"], 1).quantity == D(1)
    with sf() as s:
        kinds = list(s.scalars(select(OutboxEvent.kind).where(
            OutboxEvent.org_id == demo.org_id, OutboxEvent.kind.like("stock.%"))))
    assert sorted(kinds) == ["stock.frozen", "stock.unfrozen"]
    assert_books_ok(sf, demo.org_id)


def test_inbound_freeze_blocks_receiving_not_shipping(session_factory, demo, actors):
    sf = session_factory
    _receive(sf, demo, actors["小周"], 10)
    run(sf, freeze_stock, actors["赵经理"], FreezeStock(
        demo.items["茶青"], FreezeDirection.INBOUND, "仓位已满", site_id=demo.sites["SX"]))
    with pytest.raises(StockFrozen):
        _receive(sf, demo, actors["小周"], 1)
    _ship(sf, demo, actors["小周"], 2)
    assert _on_hand(sf, demo, "SX") == D(8)
    assert_books_ok(sf, demo.org_id)


def test_freeze_validation_and_permissions(session_factory, demo, actors):
    sf = session_factory
    receipt = _receive(sf, demo, actors["小周"], 10)
    leaf, jar = demo.items["茶青"], demo.items["龙井"]
    with pytest.raises(ValidationError):  # a reason is required
        run(sf, freeze_stock, actors["赵经理"], FreezeStock(leaf, FreezeDirection.BOTH, " ", site_id=demo.sites["SX"]))
    with pytest.raises(ValidationError):  # the lot must be of the item
        run(sf, freeze_stock, actors["赵经理"], FreezeStock(jar, FreezeDirection.BOTH, "查", lot_id=receipt.lot_id))
    with pytest.raises(PermissionDenied):  # clerks do not freeze
        run(sf, freeze_stock, actors["小周"], FreezeStock(leaf, FreezeDirection.BOTH, "查", site_id=demo.sites["SX"]))
    with pytest.raises(PermissionDenied):  # 老孙 freezes at ZC and MD, not at SX
        run(sf, freeze_stock, actors["老孙"], FreezeStock(leaf, FreezeDirection.BOTH, "查", site_id=demo.sites["SX"]))
    with pytest.raises(PermissionDenied):  # nor everywhere at once
        run(sf, freeze_stock, actors["老孙"], FreezeStock(leaf, FreezeDirection.OUTBOUND, "查"))
    ok = run(sf, freeze_stock, actors["老孙"], FreezeStock(leaf, FreezeDirection.BOTH, "查", site_id=demo.sites["ZC"]))
    everywhere = run(sf, freeze_stock, actors["赵经理"], FreezeStock(leaf, FreezeDirection.OUTBOUND, "全面排查"))
    with pytest.raises(PermissionDenied):  # a site-bound storekeeper cannot lift an org-wide freeze
        run(sf, unfreeze_stock, actors["老孙"], UnfreezeStock(everywhere.freeze_id, "查清了"))
    with pytest.raises(StockFrozen):
        _ship(sf, demo, actors["小周"], 1)
    run(sf, unfreeze_stock, actors["老孙"], UnfreezeStock(ok.freeze_id, "查清了"))
    with sf() as s:
        active = s.scalar(select(func.count()).select_from(Freeze).where(
            Freeze.org_id == demo.org_id, Freeze.active.is_(True)))
        assert active == 1
        assert s.scalar(select(func.count()).select_from(Voucher).where(Voucher.org_id == demo.org_id)) == 1
    assert_books_ok(sf, demo.org_id)
