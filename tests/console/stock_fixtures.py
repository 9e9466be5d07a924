"""A stocked demo co-operative for the 库存 pages: two farmers' lots at 绍兴, one shipped in part to a
customer, one moved on to 总仓 by a transfer, one frozen."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal as D
from typing import Any

from models.demo import DemoOrg
from models.operations import (
    DecideTransfer,
    FreezeStock,
    ReceiveGoods,
    RequestTransfer,
    ShipGoods,
    TransferLineIn,
    TransferRef,
    decide_transfer,
    dispatch_transfer,
    freeze_stock,
    receive_goods,
    receive_transfer,
    request_transfer,
    ship_goods,
)
from models.stock import FreezeDirection
from models.uow import run


@dataclass(frozen=True)
class Stocked:
    wang_lot: int
    wang_code: str
    wang_receipt: str
    li_lot: int
    li_code: str
    shipment: str
    transfer: str
    freeze_id: int


def stock_demo(sf: Any, demo: DemoOrg, actors: dict) -> Stocked:
    """王阿姨 20 kg 一级 and 李大伯 10 kg 特级 at 绍兴; 5 kg of 王阿姨's lot to 杭州茶城, 5 kg of it to 总仓;
    李大伯's lot frozen outbound at 绍兴 (a sensor alarm)."""
    leaf = demo.items["茶青"]
    wang = run(sf, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=leaf, quantity=D(20), party_id=demo.parties["王阿姨"],
        grade_id=demo.grades["一级"]))
    li = run(sf, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=leaf, quantity=D(10), party_id=demo.parties["李大伯"],
        grade_id=demo.grades["特级"]))
    shipped = run(sf, ship_goods, actors["赵经理"], ShipGoods(
        site_id=demo.sites["SX"], item_id=leaf, quantity=D(5), party_id=demo.parties["杭州茶城"],
        unit_price=D(150), lot_id=wang.lot_id))
    transfer = run(sf, request_transfer, actors["小周"], RequestTransfer(
        demo.sites["SX"], demo.sites["ZC"], (TransferLineIn(leaf, D(5)),), reason="总仓备货"))
    run(sf, decide_transfer, actors["赵经理"], DecideTransfer(transfer.document_id, True))
    run(sf, dispatch_transfer, actors["小周"], TransferRef(transfer.document_id))
    run(sf, receive_transfer, actors["老孙"], TransferRef(transfer.document_id))
    frozen = run(sf, freeze_stock, actors["赵经理"], FreezeStock(
        item_id=leaf, direction=FreezeDirection.OUTBOUND, reason="冷库温度超标", site_id=demo.sites["SX"],
        lot_id=li.lot_id))
    assert wang.lot_id is not None and li.lot_id is not None and wang.lot_code and li.lot_code
    return Stocked(wang.lot_id, wang.lot_code, wang.number, li.lot_id, li.lot_code, shipped.number,
                   transfer.number, frozen.freeze_id)
