"""Routing table: Chinese text → typed intent, tolerant of order, full width and synonyms."""

from __future__ import annotations

import pytest

from bot.intents import (
    Bind,
    Cancel,
    Confirm,
    Decide,
    Entry,
    Help,
    MyDeliveries,
    MyPayments,
    Pick,
    StockQuery,
    Todos,
    TransferRequest,
    Unknown,
    normalize,
    route,
)


@pytest.mark.parametrize(("text", "intent"), [
    ("茶青库存", StockQuery("茶青")),
    ("库存 茶青 绍兴", StockQuery("茶青 绍兴")),
    ("龙井还有多少", StockQuery("龙井")),
    ("入库 茶青 一级 23.5公斤 王阿姨", Entry("receive", "茶青 一级 23.5公斤 王阿姨")),
    ("茶青 一级 收货 王阿姨 二十三斤半", Entry("receive", "茶青 一级 王阿姨 二十三斤半")),
    ("出库 龙井 2箱 门店", Entry("ship", "龙井 2箱 门店")),
    ("发货：龙井２箱", Entry("ship", "龙井2箱")),
    ("盘点 茶青 绍兴 120斤", Entry("count", "茶青 绍兴 120斤")),
    ("调拨 龙井 3箱 总仓→门店 急", TransferRequest("龙井 3箱 总仓→门店", True)),
    ("调货 龙井 3箱 总仓->门店", TransferRequest("龙井 3箱 总仓→门店", False)),
    ("加急 调拨 龙井 3箱 总仓 -> 门店", TransferRequest("龙井 3箱 总仓→门店", True)),
    ("同意 DB-20261123-0003", Decide("DB-20261123-0003", True)),
    ("ＤＢ－ZC－20261123－0003 批准", Decide("DB-ZC-20261123-0003", True)),
    ("同意 DB-ZC-N1-20261123-0003", Decide("DB-ZC-N1-20261123-0003", True)),
    ("驳回 DB-20261123-0003 库存不足", Decide("DB-20261123-0003", False, "库存不足")),
    ("不同意 db-20261123-0003，数量太多", Decide("DB-20261123-0003", False, "数量太多")),
    ("待办", Todos()),
    ("我的交货", MyDeliveries()),
    ("我的货款", MyPayments()),
    ("帮助", Help()),
    ("？", Help()),
    ("绑定 123456", Bind("123456")),
    ("绑定１２３４５６", Bind("123456")),
    ("确认", Confirm()),
    ("ＯＫ", Confirm()),
    ("取消", Cancel()),
    ("２", Pick(2)),
    ("第三个", Pick(3)),
    ("今天天气不错", Unknown("今天天气不错")),
])
def test_route(text, intent):
    assert route(text) == intent


def test_normalize_full_width_mentions_and_arrows():
    assert normalize("@流转机器人　入库，茶青　１２公斤！") == "入库 茶青 12公斤"
    assert normalize("总仓 —> 门店") == "总仓→门店"
