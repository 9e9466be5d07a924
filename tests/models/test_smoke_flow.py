"""One delivery through its whole life: receive, transfer, ship, count, QC, settle, reverse."""

from __future__ import annotations

from decimal import Decimal as D

from models.invariants import check_all
from models.operations import (
    CountStock,
    DecideTransfer,
    ReceiveGoods,
    RecordQc,
    RequestTransfer,
    ReverseDocument,
    SettleFarmer,
    ShipGoods,
    TransferLineIn,
    TransferRef,
    count_stock,
    decide_transfer,
    dispatch_transfer,
    receive_goods,
    receive_transfer,
    record_qc,
    request_transfer,
    reverse_document,
    settle_farmer,
    ship_goods,
)
from models.queries import stock_level
from models.uow import run


def test_delivery_lifecycle_keeps_books_consistent(session_factory, demo, actors):
    sx, zc = demo.sites["SX"], demo.sites["ZC"]
    leaf = demo.items["茶青"]
    receipt = run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=sx, item_id=leaf, quantity=D("23.5"), unit="斤",
        party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"]))
    assert receipt.quantity == D("11.75") and receipt.total == D("940.00") and receipt.prepayment == D("658.00")

    transfer = run(session_factory, request_transfer, actors["小周"],
                   RequestTransfer(sx, zc, (TransferLineIn(leaf, D(5)),), urgent=True))
    # urgent: the manager, then the director
    run(session_factory, decide_transfer, actors["赵经理"], DecideTransfer(transfer.document_id, True))
    run(session_factory, decide_transfer, actors["钱总监"], DecideTransfer(transfer.document_id, True))
    run(session_factory, dispatch_transfer, actors["小周"], TransferRef(transfer.document_id))
    done = run(session_factory, receive_transfer, actors["老孙"], TransferRef(transfer.document_id))
    assert done.status == "received"

    shipment = run(session_factory, ship_goods, actors["老孙"], ShipGoods(
        site_id=zc, item_id=leaf, quantity=D(2), unit_price=D(100), party_id=demo.parties["杭州茶城"]))
    assert shipment.cost == D("160.00") and shipment.revenue == D("200.00")

    count = run(session_factory, count_stock, actors["小周"], CountStock(sx, leaf, D(13), "斤"))
    assert count.difference == D("-0.25") and count.loss_value == D("20.00")

    run(session_factory, record_qc, actors["赵经理"], RecordQc(receipt.lot_id, True))
    paid = run(session_factory, settle_farmer, actors["吴会计"], SettleFarmer(demo.parties["王阿姨"]))
    assert paid.amount == D("940.00") and paid.items[0].stage == "full"
    run(session_factory, reverse_document, actors["吴会计"], ReverseDocument(paid.document_id, "付错了"))

    with session_factory() as session:
        assert stock_level(session, demo.org_id, leaf, sx).on_hand == D("6.5")
        assert stock_level(session, demo.org_id, leaf, zc).on_hand == D(3)
        report = check_all(session, demo.org_id)
    assert report.ok, report.problems()
