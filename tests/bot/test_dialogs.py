"""Dialog transcripts in Chinese (message → expected reply), through the encrypted WeCom and signed
DingTalk endpoints; every stock change waits for 确认 and ends in the same operations."""

from __future__ import annotations

import re
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import func, select, update

from models.actor import Actor
from models.base import utcnow
from models.catalog import Dimension
from models.chat import ChatDialog
from models.documents import DocKind, Document
from models.operations import CreateItem, ReceiveGoods, create_item, receive_goods
from models.queries import stock_level
from models.uow import run


def transcript(user, lines):
    """Send each message; the reply must contain every expected piece. Return the replies."""
    replies = []
    for message, *expected in lines:
        reply = user.say(message)
        for piece in expected:
            assert piece in reply, f"{message!r} → {reply!r} (expected {piece!r})"
        replies.append(reply)
    return replies


def _docs(session_factory, org_id, kind):
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(Document).where(
            Document.org_id == org_id, Document.kind == kind))


def test_clerk_receives_a_farmer_delivery_with_confirmation(wecom, session_factory, demo):
    transcript(wecom, [
        ("入库 茶青 一级 23.5公斤 王阿姨", "请确认入库", "地点：绍兴收购点", "等级：一级", "数量：23.5公斤",
         "交货人：王阿姨", "回复“确认”提交"),
        ("确认", "已入库 RK-SX-", "金额 1880.00 元", "预付 1316.00 元"),
        ("确认", "现在没有待确认的操作"),
        ("茶青库存", "茶青 库存", "绍兴收购点 23.5公斤"),
        ("库存 茶青 绍兴", "绍兴收购点 23.5公斤"),
    ])
    assert _docs(session_factory, demo.org_id, DocKind.RECEIPT) == 1


def test_word_order_full_width_spoken_numbers_and_cancel(wecom, session_factory, demo):
    transcript(wecom, [
        ("茶青 入库 王阿姨 二十三斤半 一级", "请确认入库", "数量：23.5斤", "交货人：王阿姨"),
        ("取消", "已取消入库"),
        ("入库　茶青　一级　１２公斤，", "数量：12公斤"),
        ("算了", "已取消"),
        ("确认", "现在没有待确认的操作"),
    ])
    assert _docs(session_factory, demo.org_id, DocKind.RECEIPT) == 0


def test_missing_grade_is_asked_with_numbered_options(wecom, session_factory, demo):
    transcript(wecom, [
        ("收货 茶青 5公斤 李大伯", "请选择等级", "1. 特级（120元/公斤）", "2. 一级", "3. 二级"),
        ("9", "请回复 1 到 3 之间的数字"),
        ("2", "请确认入库", "等级：一级", "交货人：李大伯"),
        ("好的", "已入库", "金额 400.00 元"),
    ])


def test_bad_input_gets_a_clear_reply_and_writes_nothing(wecom, session_factory, demo):
    transcript(wecom, [
        ("入库 普洱 3公斤", "没有找到商品", "茶青"),
        ("入库 茶青 一级 很多", "没有听到数量"),  # the one parser's words, as for a spoken weight
        ("盘点 茶青 120", "请写明单位"),
        ("入库 茶青 一级 3桶", "不认识的单位：桶"),
        ("入库 茶青 一级 0公斤", "数量必须大于零"),
        ("入库 茶青 一级 3公斤 总仓", "没有权限：收货入库"),
        ("出库 茶青 1000公斤", "库存不足", "可用 0公斤"),
        ("同意 DB-SX-20261123-0001", "找不到调拨单"),
        ("随便说点什么", "没看懂", "帮助"),
    ])
    assert _docs(session_factory, demo.org_id, DocKind.RECEIPT) == 0
    assert _docs(session_factory, demo.org_id, DocKind.SHIPMENT) == 0
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(ChatDialog).where(ChatDialog.org_id == demo.org_id)) == 0


def test_count_and_dialog_time_out(wecom, session_factory, demo, actors):
    run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal(50), unit="公斤",
        party_id=demo.parties["王阿姨"], grade_id=demo.grades["二级"]))
    transcript(wecom, [("盘点 茶青 绍兴 120斤", "请确认盘点", "实盘数量：120斤")])
    with session_factory() as s:
        s.execute(update(ChatDialog).where(ChatDialog.org_id == demo.org_id).values(
            expires_at=utcnow() - timedelta(seconds=1)))
        s.commit()
    transcript(wecom, [
        ("确认", "已超时"),
        ("盘点 茶青 绍兴 120斤", "请确认盘点"),
        ("确认", "已盘点 PD-SX-", "账面 50公斤", "实盘 60公斤", "盘盈 10公斤"),
    ])
    with session_factory() as s:
        assert stock_level(s, demo.org_id, demo.items["茶青"], demo.sites["SX"]).on_hand == Decimal(60)


def test_urgent_transfer_request_and_approval_over_dingtalk(ding_users, session_factory, demo, actors):
    sun, zhao = ding_users["老孙"], ding_users["赵经理"]
    run(session_factory, receive_goods, actors["老孙"], ReceiveGoods(
        site_id=demo.sites["ZC"], item_id=demo.items["龙井"], quantity=Decimal(5), unit="箱"))
    replies = transcript(sun, [
        ("调拨 龙井 3箱 总仓→门店 急", "请确认调拨", "从：总仓 → 到：门店", "加急：是", "数量：3箱"),
        ("确认", "已提交调拨申请 DB-ZC-", "加急"),
    ])
    number = re.search(r"DB-ZC-\d{8}-\d{4}", replies[-1]).group()
    import workflows.handlers  # noqa: F401  (the relay opens the approval and its to-do)
    from workflows.relay import relay_pending

    while relay_pending(session_factory, limit=10_000):
        pass
    [todo] = transcript(zhao, [("待办", "【急】待审批调拨", number, "总仓→门店")])
    assert todo.count(number) == 1  # the transfer and its approval to-do are one line, not two
    transcript(sun, [(f"同意 {number}", "没有权限：审批调拨")])
    transcript(zhao, [  # an urgent transfer's chain: manager, then director
        (f"驳回 {number}", "驳回须说明原因"),
        (f"批准 {number.lower()}", "已同意调拨", number, "等待下一级审批"),
        (f"同意 {number}", "本级应由总监审批"),
    ])
    transcript(ding_users["钱总监"], [(f"同意 {number}", "已批准调拨", number, "等待发货")])
    transcript(zhao, [(f"同意 {number}", "该审批已同意")])
    transcript(sun, [("待办", "待发货调拨", number)])


def test_ambiguity_asks_back_with_numbered_options(ding_users, session_factory, demo):
    sun = ding_users["老孙"]
    run(session_factory, create_item, Actor.system_actor(demo.org_id), CreateItem(
        code="LJ500", name="龙井 500g 罐", base_unit="罐", dimension=Dimension.COUNT, aliases=("龙井",),
        packs=(("箱", Decimal(10)),)))
    transcript(sun, [
        ("入库 龙井 2箱", "请选择商品", "1. 龙井 250g 罐", "2. 龙井 500g 罐"),
        ("2", "请选择地点", "1. 总仓", "2. 门店"),
        ("第二个", "请确认入库", "商品：龙井 500g 罐", "地点：门店", "数量：2箱"),
        ("确认", "已入库 RK-MD-"),
        ("龙井 500g 罐 还有多少", "龙井 500g 罐 库存", "门店 20罐"),
    ])


def test_concurrent_redelivery_posts_once_and_both_get_the_first_reply(wecom, app, session_factory, demo):
    from concurrent.futures import ThreadPoolExecutor

    from tests.bot.clients import WeComUser, wechat_xml
    from tests.bot.conftest import AES_KEY

    transcript(wecom, [("入库 茶青 二级 7公斤 陈小芳", "请确认入库")])
    xml = wechat_xml(wecom.user, "text", {"Content": "确认"}, msg_id=424242)

    def send(_n):
        user = WeComUser(app.test_client(), wecom.user, "wecom-token", AES_KEY, "ww-test-corp")
        return user.reply_of(user.post(xml))

    with ThreadPoolExecutor(max_workers=3) as pool:
        replies = list(pool.map(send, range(3)))
    assert replies[0].startswith("已入库") and len(set(replies)) == 1
    assert _docs(session_factory, demo.org_id, DocKind.RECEIPT) == 1


def test_a_weight_is_never_summed_or_guessed(wecom, session_factory, demo):
    """Issue 10: two different weights are asked back with numbered options; a correction, a repeat,
    recognizer spacing and 廿 are read exactly; an estimate is refused."""
    before = _docs(session_factory, demo.org_id, DocKind.RECEIPT)
    transcript(wecom, [
        ("入库 茶青 一级 二十斤 二十五斤 王阿姨", "请选择数量", "1. 20斤（二十斤）", "2. 25斤（二十五斤）"),
        ("2", "请确认入库", "数量：25斤"),
        ("取消", "已取消"),
        ("入库 茶青 一级 二十斤，说错了，二十五斤 王阿姨", "请确认入库", "数量：25斤"),
        ("取消", "已取消"),
        ("入库 茶青 一级 二十斤 二十斤 王阿姨", "请确认入库", "数量：20斤"),
        ("取消", "已取消"),
        ("入库 茶青 一级 三 十 二 斤 半 王阿姨", "请确认入库", "数量：32.5斤"),
        ("取消", "已取消"),
        ("入库 茶青 一级 廿三斤 王阿姨", "请确认入库", "数量：23斤"),
        ("取消", "已取消"),
        ("入库 茶青 一级 大概二十斤 王阿姨", "请说一个确切的重量"),
    ])
    assert _docs(session_factory, demo.org_id, DocKind.RECEIPT) == before
