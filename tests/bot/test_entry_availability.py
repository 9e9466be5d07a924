"""出库/调拨 are checked against what ship_goods could ship (the stock-availability query), so the
echo names frozen and QC-failed stock at once instead of the operation refusing at 确认.
Regression: the check used the raw balance (on hand less reserved) and ignored freezes."""

from __future__ import annotations

from decimal import Decimal as D

from sqlalchemy import func, select

from models.chat import ChatDialog
from models.documents import Document
from models.operations import FreezeStock, ReceiveGoods, freeze_stock, receive_goods
from models.stock import FreezeDirection
from models.uow import run
from tests.bot.test_dialogs import transcript


def _receive(sf, demo, actors, qty, grade):
    return run(sf, receive_goods, actors["赵经理"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=D(qty), party_id=demo.parties["王阿姨"],
        grade_id=demo.grades[grade]))


def _counts(sf, org_id):
    with sf() as s:
        return (s.scalar(select(func.count()).select_from(Document).where(Document.org_id == org_id)),
                s.scalar(select(func.count()).select_from(ChatDialog).where(ChatDialog.org_id == org_id)))


def test_frozen_stock_is_named_in_the_echo(wecom, session_factory, demo, actors):
    sf = session_factory
    lot = _receive(sf, demo, actors, "10", "一级")
    run(sf, freeze_stock, actors["赵经理"], FreezeStock(demo.items["茶青"], FreezeDirection.BOTH, "农残复检",
                                                       lot_id=lot.lot_id))
    before = _counts(sf, demo.org_id)
    transcript(wecom, [("出库 茶青 2公斤", "茶青 在 绍兴收购点 的库存已冻结 10公斤，不能出库")])
    _receive(sf, demo, actors, "3", "二级")
    transcript(wecom, [("出库 茶青 5公斤", "库存不足", "可用 3公斤，需要 5公斤（已冻结 10公斤）")])
    assert _counts(sf, demo.org_id) == (before[0] + 1, before[1])  # only the second receipt: no dialog, no shipment
