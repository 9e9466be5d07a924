"""One query per use case: the bot's answer, the mini-program's JSON and the query agree exactly.

Stock availability (a lot frozen everywhere, a QC-failed lot, a reservation, an item frozen at one
site, an inbound-only freeze that holds nothing back) and to-dos (an approval at its second level, a
transfer to dispatch and one to receive, a draft receipt, a QC-failed lot, a task). Regressions:
``/stock`` called stock available when every lot of it was frozen; the bot's 待办 still listed a
transfer its manager had already approved (at the director's level now).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D
from types import SimpleNamespace

import pytest
from sqlalchemy import update

from bot import handlers
from models.base import utcnow
from models.documents import DocKind
from models.errors import InsufficientStock, StockFrozen
from models.operations import (
    CreateOrder,
    DecideTransfer,
    FreezeStock,
    OrderLineIn,
    ReceiveGoods,
    RecordQc,
    RequestTransfer,
    ShipGoods,
    TransferLineIn,
    create_order,
    decide_transfer,
    dispatch_transfer,
    freeze_stock,
    receive_goods,
    record_qc,
    request_transfer,
    ship_goods,
)
from models.operations.transfers import TransferRef
from models.org import Org
from models.queries.emergency_transfer import usable
from models.queries.stock_availability import lot_availability, stock_availability
from models.queries.todos import todos_for
from models.stock import FreezeDirection
from models.tasks import TaskStatus, Todo
from models.uow import run
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client  # noqa: F401


def _receive(sf, demo, actors, qty, site, grade="一级", by="赵经理"):
    return run(sf, receive_goods, actors[by], ReceiveGoods(
        site_id=demo.sites[site], item_id=demo.items["茶青"], quantity=D(qty), party_id=demo.parties["王阿姨"],
        grade_id=demo.grades[grade]))


def _bot(session, actor):
    """What the bot's handlers read from a message's context (the transport is tests/bot's job)."""
    return SimpleNamespace(session=session, actor=actor, org_id=actor.org_id)


@pytest.fixture
def held_stock(session_factory, demo, actors):
    """总仓: lot A 10 kg frozen everywhere, lot B 6 kg QC failed, lot C 8 kg with 3 reserved; an
    inbound-only freeze of 茶青 at 总仓 (holds nothing back). 绍兴: 4 kg, 茶青 frozen outbound there."""
    sf, boss = session_factory, actors["赵经理"]
    a = _receive(sf, demo, actors, "10", "ZC")
    b = _receive(sf, demo, actors, "6", "ZC", grade="特级")
    c = _receive(sf, demo, actors, "8", "ZC", grade="二级")
    _receive(sf, demo, actors, "4", "SX")
    tea = demo.items["茶青"]
    run(sf, freeze_stock, boss, FreezeStock(tea, FreezeDirection.BOTH, "农残复检", lot_id=a.lot_id))
    run(sf, record_qc, boss, RecordQc(b.lot_id, False, "发霉"))
    run(sf, freeze_stock, boss, FreezeStock(tea, FreezeDirection.OUTBOUND, "盘点中", site_id=demo.sites["SX"]))
    run(sf, create_order, boss, CreateOrder(DocKind.SALES_ORDER, demo.sites["ZC"], demo.parties["杭州茶城"],
                                            (OrderLineIn(tea, D(3), unit_price=D(100)),)))
    run(sf, freeze_stock, boss, FreezeStock(tea, FreezeDirection.INBOUND, "暂停收货", site_id=demo.sites["ZC"]))
    return a, b, c


def test_stock_availability_agrees_everywhere(client, as_, session_factory, demo, actors, held_stock):
    a, b, c = held_stock
    boss, tea = actors["赵经理"], demo.items["茶青"]
    with session_factory() as s:
        levels = {lv.site_id: lv for lv in stock_availability(s, boss, item_ids=[tea])}
        zc, sx = levels[demo.sites["ZC"]], levels[demo.sites["SX"]]
        assert (zc.on_hand, zc.reserved, zc.frozen, zc.qc_held, zc.available, zc.held_lots) == (
            D(24), D(3), D(10), D(6), D(5), 2)
        assert (sx.on_hand, sx.reserved, sx.frozen, sx.qc_held, sx.available, sx.held_lots) == (
            D(4), D(0), D(4), D(0), D(0), 1)
        _item, lots = lot_availability(s, boss, tea, demo.sites["ZC"])
        assert [(lot.lot_id, lot.available, lot.held) for _site, lot in lots] == [
            (a.lot_id, D(0), True), (b.lot_id, D(0), True), (c.lot_id, D(5), False)]
        bot = handlers.stock(_bot(s, boss), "茶青")
        # The emergency-transfer suggestion counts the same available stock.
        assert usable(s, demo.org_id, tea, demo.sites["ZC"]) == D(5)
        assert usable(s, demo.org_id, tea, demo.sites["SX"]) == D(0)

    rows = client.get(f"/api/v1/stock?item_id={tea}", headers=as_("赵经理")).get_json()["items"]
    assert [(r["site_name"], r["on_hand"], r["reserved"], r["frozen"], r["qc_held"], r["available"], r["frozen_lots"])
            for r in rows] == [("绍兴收购点", "4", "0", "4", "0", "0", 1), ("总仓", "24", "3", "10", "6", "5", 2)]
    lots = client.get(f"/api/v1/stock/{tea}/lots?site_id={demo.sites['ZC']}", headers=as_("赵经理")).get_json()
    assert [(lot["lot_id"], lot["available"], lot["frozen"]) for lot in lots["lots"]] == [
        (a.lot_id, "0", True), (b.lot_id, "0", True), (c.lot_id, "5", False)]
    assert bot == ("茶青 库存：\n"
                   "· 绍兴收购点 4公斤（可用 0公斤，冻结 4公斤）\n"
                   "· 总仓 24公斤（可用 5公斤，已预留 3公斤，冻结 10公斤，质检未通过 6公斤）\n"
                   "· 门店 0公斤\n"
                   "合计 28公斤，可用 5公斤")

    # "Available" is what ship_goods can ship: one gram more is refused, with the same number.
    with pytest.raises(InsufficientStock) as err:
        run(session_factory, ship_goods, boss, ShipGoods(demo.sites["ZC"], tea, D("5.001")))
    assert err.value.details["available"] == "5"


def test_stock_all_frozen_is_not_available(client, as_, session_factory, demo, actors):
    """Regression: /stock said 20 available of 茶青 at 绍兴 when its only lot was frozen everywhere."""
    lot = _receive(session_factory, demo, actors, "20", "SX")
    run(session_factory, freeze_stock, actors["赵经理"], FreezeStock(
        demo.items["茶青"], FreezeDirection.BOTH, "召回", lot_id=lot.lot_id))
    [row] = client.get("/api/v1/stock", headers=as_("小周")).get_json()["items"]
    assert (row["on_hand"], row["available"], row["frozen"], row["frozen_lots"]) == ("20", "0", "20", 1)
    with pytest.raises(StockFrozen):  # and indeed nothing can be shipped
        run(session_factory, ship_goods, actors["小周"], ShipGoods(demo.sites["SX"], demo.items["茶青"], D(1)))
    with session_factory() as s:
        assert handlers.stock(_bot(s, actors["小周"]), "茶青") == (
            "茶青 库存：\n· 绍兴收购点 20公斤（可用 0公斤，冻结 20公斤）")


def test_an_inbound_freeze_or_a_freeze_elsewhere_holds_nothing_back(client, as_, session_factory, demo, actors):
    _receive(session_factory, demo, actors, "7", "SX")
    tea = demo.items["茶青"]
    run(session_factory, freeze_stock, actors["赵经理"], FreezeStock(
        tea, FreezeDirection.INBOUND, "暂停收货", site_id=demo.sites["SX"]))
    run(session_factory, freeze_stock, actors["赵经理"], FreezeStock(
        tea, FreezeDirection.OUTBOUND, "总仓盘点", site_id=demo.sites["ZC"]))
    [row] = client.get("/api/v1/stock", headers=as_("小周")).get_json()["items"]
    assert (row["available"], row["frozen"], row["frozen_lots"]) == ("7", "0", 0)
    [lot] = client.get(f"/api/v1/stock/{tea}/lots", headers=as_("小周")).get_json()["lots"]
    assert (lot["available"], lot["frozen"]) == ("7", False)


@pytest.fixture
def waiting(session_factory, demo, actors):
    """T1 urgent 总仓→门店 (manager then director) with the manager's approval to-do; T2 approved,
    to dispatch from 绍兴; T3 in transit to 总仓; a draft receipt entered by 小周; a QC-failed lot at
    绍兴; a task for clerks."""
    sf, tea = session_factory, demo.items["茶青"]
    _receive(sf, demo, actors, "30", "SX")
    bad = _receive(sf, demo, actors, "2", "SX", grade="二级")
    run(sf, record_qc, actors["赵经理"], RecordQc(bad.lot_id, False, "农残超标"))
    t1 = run(sf, request_transfer, actors["老孙"], RequestTransfer(
        demo.sites["ZC"], demo.sites["MD"], (TransferLineIn(demo.items["龙井"], D(3)),), urgent=True))
    t2 = run(sf, request_transfer, actors["小周"], RequestTransfer(
        demo.sites["SX"], demo.sites["ZC"], (TransferLineIn(tea, D(5)),)))
    t3 = run(sf, request_transfer, actors["小周"], RequestTransfer(
        demo.sites["SX"], demo.sites["ZC"], (TransferLineIn(tea, D(4)),)))
    for t in (t2, t3):
        run(sf, decide_transfer, actors["赵经理"], DecideTransfer(t.document_id, True))
    run(sf, dispatch_transfer, actors["小周"], TransferRef(t3.document_id))
    with sf() as s:  # a large entry waits for a second person
        s.execute(update(Org).where(Org.id == demo.org_id).values(settings={"receipt_review_above_base": "100"}))
        s.commit()
    draft = _receive(sf, demo, actors, "150", "SX", by="小周")
    assert draft.status == "draft"
    due = utcnow() + timedelta(hours=4)
    with sf() as s:
        s.add_all([
            Todo(org_id=demo.org_id, kind="approval", title=f"审批 {t1.number}", assignee_role="manager",
                 due_at=due, status=TaskStatus.OPEN, document_id=t1.document_id),
            Todo(org_id=demo.org_id, title="盘点绍兴", body="月底前", assignee_role="clerk", due_at=due,
                 status=TaskStatus.OPEN),
        ])
        s.commit()
    return SimpleNamespace(t1=t1, t2=t2, t3=t3, draft=draft, bad=bad, due=due)


def _agree(client, as_, session_factory, actors, name):
    """Return the query's to-dos for ``name`` after checking the bot text and the JSON match them."""
    with session_factory() as s:
        found = todos_for(s, actors[name])
        bot = handlers.todos(_bot(s, actors[name]))
    items = client.get("/api/v1/todos", headers=as_(name)).get_json()["items"]
    assert [(i["kind"], i["title"].removesuffix("（紧急）"), i["detail"], i["urgent"], i["document_id"], i["lot_id"],
             i["task_id"]) for i in items] == [
        (t.kind, t.title, t.detail, t.urgent, t.document_id, t.lot_id, t.task_id) for t in found]
    expected = "\n".join(f"{n}. {handlers.todo_line(t)}" for n, t in enumerate(found, start=1))
    assert bot == (f"您的待办（{len(found)}）：\n{expected}" if found else "目前没有待办事项")
    return found, bot


def test_todos_agree_and_each_thing_is_listed_once(client, as_, session_factory, demo, actors, waiting):
    w = waiting
    due = handlers.todo_line(handlers.Todo("task", "x", "", False, due_at=w.due)).removeprefix("x")
    found, bot = _agree(client, as_, session_factory, actors, "赵经理")
    assert [(t.kind, t.number) for t in found] == [
        ("approval", w.t1.number), ("dispatch", w.t2.number), ("receive", w.t3.number),
        ("draft_receipt", w.draft.number), ("qc_failed", None)]
    assert bot == (f"您的待办（5）：\n"
                   f"1. 【急】待审批调拨 {w.t1.number} 总仓→门店，申请人 老孙\n"
                   f"2. 待发货调拨 {w.t2.number} 发往总仓\n"
                   f"3. 待收货调拨 {w.t3.number} 来自绍兴收购点\n"
                   f"4. 待确认入库 {w.draft.number} 绍兴收购点 茶青 150公斤，录入人 小周\n"
                   f"5. 【急】质检不合格，待处理 绍兴收购点 茶青 批次 {w.bad.lot_code}：2 公斤")
    # The clerk: his own draft is not his to confirm; his site's transfer to dispatch, the QC alert, his task.
    found, bot = _agree(client, as_, session_factory, actors, "小周")
    assert [(t.kind, t.number or t.title) for t in found] == [
        ("dispatch", w.t2.number), ("qc_failed", "质检不合格，待处理"), ("task", "盘点绍兴")]
    assert bot.endswith(f"3. 盘点绍兴 月底前{due}")
    # The storekeeper of 总仓 and 门店 receives T3 at 总仓.
    found, _bot = _agree(client, as_, session_factory, actors, "老孙")
    assert [(t.kind, t.number) for t in found] == [("receive", w.t3.number)]
    # The director decides any level: T1 already at the first.
    found, _bot = _agree(client, as_, session_factory, actors, "钱总监")
    assert (found[0].kind, found[0].number) == ("approval", w.t1.number)


def test_a_transfer_the_manager_approved_leaves_his_todos(client, as_, session_factory, demo, actors, waiting):
    """Regression: after 赵经理 approved the urgent transfer's first level, his 待办 still listed it
    (as it stood REQUESTED), though the director decides now; his stale approval to-do is not a line either."""
    w = waiting
    run(session_factory, decide_transfer, actors["赵经理"], DecideTransfer(w.t1.document_id, True))
    found, bot = _agree(client, as_, session_factory, actors, "赵经理")
    assert w.t1.number not in bot and [t.kind for t in found] == ["dispatch", "receive", "draft_receipt", "qc_failed"]
    found, bot = _agree(client, as_, session_factory, actors, "钱总监")
    assert (found[0].kind, found[0].number, found[0].urgent) == ("approval", w.t1.number, True)
    assert bot.count(w.t1.number) == 1 and f"【急】待审批调拨 {w.t1.number}" in bot


def test_a_farmers_deliveries_agree_in_the_mini_program_and_the_bot(client, as_, session_factory, demo, actors):
    """我的交货 in the bot and /my/deliveries are one query: same receipts, same order, same amounts."""
    mine = [_receive(session_factory, demo, actors, qty, "SX", by="小周") for qty in ("11.75", "5")]
    run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=D(30), party_id=demo.parties["李大伯"],
        grade_id=demo.grades["一级"]))
    rows = client.get("/api/v1/my/deliveries", headers=as_("王阿姨")).get_json()["items"]
    assert [(r["number"], r["amount"]) for r in rows] == [(mine[1].number, "400"), (mine[0].number, "940")]
    with session_factory() as s:
        text = handlers.my_deliveries(_bot(s, actors["王阿姨"]))
    lines = text.splitlines()[1:]
    assert [line.split()[3] for line in lines] == [r["number"] for r in rows]
    assert [line.split()[-1] for line in lines] == [f"{r['amount']}元" for r in rows]
    assert "茶青 5公斤" in lines[0] and "茶青 11.75公斤" in lines[1]


def test_a_transfer_found_by_number_is_the_one_its_card_decides(session_factory, demo, actors):
    """The bot's 同意 <单号> and the DingTalk card callback find the same document."""
    from bot.intents import Decide
    from models.queries.documents import card_target, transfer_by_number

    _receive(session_factory, demo, actors, "10", "SX")
    t = run(session_factory, request_transfer, actors["小周"], RequestTransfer(
        from_site_id=demo.sites["SX"], to_site_id=demo.sites["ZC"],
        lines=(TransferLineIn(demo.items["茶青"], D(5), "公斤"),), urgent=True, reason="门店断货"))
    with session_factory() as s:
        by_number = transfer_by_number(s, actors["赵经理"], t.number)
        by_card = card_target(s, f"appr-transfer-{t.document_id}", "zhao")
        assert by_number == by_card.document and by_card.actor.member_id == actors["赵经理"].member_id
        reply = handlers.decide(_bot(s, actors["赵经理"]), Decide(t.number, True))
        s.commit()
    assert reply == f"已同意调拨 {t.number}（本级），等待下一级审批"
    with session_factory() as s:  # the card sees the decision the bot made (the director's level now)
        assert card_target(s, f"appr-transfer-{t.document_id}", "qian").document == transfer_by_number(
            s, actors["钱总监"], t.number)
