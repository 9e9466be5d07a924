"""首页: every kind of decision shows for the member who decides it (and nobody else's org), and each
one-step action changes the state through its operation; the card is gone after success."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select

from models.approvals import ApprovalRequest
from models.demo import seed_demo
from models.documents import DocStatus, Document
from models.event_log import HandlerRun, RunStatus
from models.planning import ReplenishmentSuggestion, SuggestionStatus
from models.stock import Freeze
from models.uow import run
from tests.console import today_setup as ts
from tests.console.conftest import post, sign_in


def _page(client) -> str:
    response = client.get("/console/")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def _request_id(session_factory, document_id: int) -> int:
    with session_factory() as s:
        return s.scalars(select(ApprovalRequest.id).where(ApprovalRequest.document_id == document_id)).one()


def _key() -> str:
    return uuid.uuid4().hex


def test_an_empty_today_says_so(console_as):
    page = _page(console_as("吴会计"))
    assert "现在没有需要您决定的事" in page and "待我审批" not in page


def test_groups_in_urgency_order_with_counts(console_as, session_factory, demo, actors):
    ts.escalated_task(session_factory, demo, overdue=True, title="超期的事")
    ts.escalated_task(session_factory, demo, overdue=False, title="未超期的事")
    transfer = ts.requested_transfer(session_factory, demo, actors)
    ts.frozen_lot(session_factory, demo, actors)
    ts.near_expiry_lot(session_factory, demo, actors)
    ts.planning(session_factory, demo)
    ts.dead_letter(session_factory, demo)
    ts.stale_sensor(session_factory, demo, actors)
    page = _page(console_as("赵经理"))
    headings = re.findall(r'<h2 id="h-(\w+)">([^<（]+)（(\d+)）</h2>', page)
    assert [(slug, int(n)) for slug, _label, n in headings] == [
        ("overdue", 1), ("approvals", 1), ("escalations", 1), ("quality", 1), ("expiry", 1), ("stock", 1),
        ("system", 2)]
    # the counts at the top link to the groups; overdue first, in red
    assert '<a href="#g-overdue" class="bad">已超期的升级 <strong>1</strong></a>' in page
    assert f"待审批调拨 {transfer.number}" in page and "申请人 小周" in page
    assert "超时升级：超期的事" in page and "（已超期）" in page
    assert "冷库温度超限（传感器 T-1）" in page and "解除冻结" in page
    assert "临近保质期：龙井 250g 罐" in page and "5 天后到期" in page
    # below safety stock is answered by the proposed suggestion: listed once, as the suggestion
    assert "补货建议：龙井 250g 罐 向新昌包装厂采购" in page and "低于安全库存" not in page
    assert "自动处理失败，待重放" in page and "连接被拒绝" in page
    assert "设备离线：传感器 T-1" in page and "从未上报" in page
    shown = re.sub(r'data-kind="\w+"', "", page.split("<main")[1])
    assert "dead_letter" not in shown and "stale_device" not in shown  # no English codes on screen


def test_nothing_of_another_org_shows(console_app, console_as, session_factory, demo, actors):
    other = run(session_factory, seed_demo, f"t-{uuid.uuid4().hex[:12]}")
    with session_factory() as s:
        from models.actor import load_actor
        others = {n: load_actor(s, m) for n, m in other.members.items()}
    foreign = ts.requested_transfer(session_factory, other, others)
    ts.dead_letter(session_factory, other)
    ts.frozen_lot(session_factory, other, others)
    page = _page(console_as("赵经理"))
    assert foreign.number not in page and "连接被拒绝" not in page and "冷库温度超限" not in page
    client = console_app.test_client()
    sign_in(client, other, "赵经理")
    assert foreign.number in _page(client)


def test_below_safety_stock_without_a_suggestion(console_as, session_factory, demo):
    ts.planning(session_factory, demo, suggest=False)
    page = _page(console_as("赵经理"))
    assert "低于安全库存：龙井 250g 罐" in page and "门店 可用 0 罐，安全库存 30 罐" in page
    assert "库存与补货" not in _page(console_as("小周"))  # a clerk does not plan


def test_approve_a_transfer_from_today(console_as, session_factory, demo, actors):
    transfer = ts.requested_transfer(session_factory, demo, actors)
    client = console_as("赵经理")
    request_id = _request_id(session_factory, transfer.document_id)
    response = post(client, f"/console/today/approvals/{request_id}/decide",
                    {"decision": "approve", "request_id": _key(), "next": "/console/"})
    assert response.status_code == 303 and response.headers["Location"] == "/console/"
    page = _page(client)
    assert "已同意" in page and f"待审批调拨 {transfer.number}" not in page
    assert f"待发货调拨 {transfer.number}" in page  # the next step waits at 绍兴 (the manager may dispatch)
    with session_factory() as s:
        assert s.get_one(Document, transfer.document_id).status == DocStatus.APPROVED


def test_reject_needs_a_reason_and_then_rejects(console_as, session_factory, demo, actors):
    transfer = ts.requested_transfer(session_factory, demo, actors)
    client = console_as("赵经理")
    request_id = _request_id(session_factory, transfer.document_id)
    post(client, f"/console/today/approvals/{request_id}/decide", {"decision": "reject", "reason": " "})
    page = _page(client)
    assert "驳回须说明原因" in page and transfer.number in page
    post(client, f"/console/today/approvals/{request_id}/decide", {"decision": "reject", "reason": "总仓不缺"})
    assert transfer.number not in _page(client).split("</h1>")[1]
    with session_factory() as s:
        assert s.get_one(Document, transfer.document_id).status == DocStatus.REJECTED


def test_lift_a_freeze_with_a_reason(console_as, session_factory, demo, actors):
    _receipt, freeze = ts.frozen_lot(session_factory, demo, actors)
    client = console_as("赵经理")
    post(client, f"/console/today/freezes/{freeze.freeze_id}/lift", {"reason": ""})
    assert "解冻须说明原因" in _page(client)
    with session_factory() as s:
        assert s.get_one(Freeze, freeze.freeze_id).active
    post(client, f"/console/today/freezes/{freeze.freeze_id}/lift", {"reason": "复查温度正常", "request_id": _key()})
    page = _page(client)
    assert "已解冻" in page and "冷库温度超限" not in page
    with session_factory() as s:
        assert not s.get_one(Freeze, freeze.freeze_id).active


def test_accept_and_dismiss_suggestions(console_as, session_factory, demo):
    first = ts.planning(session_factory, demo)["suggestion_id"]
    client = console_as("赵经理")
    post(client, f"/console/today/suggestions/{first}/accept", {"request_id": _key()})
    with session_factory() as s:
        sug = s.get_one(ReplenishmentSuggestion, first)
        assert sug.status == SuggestionStatus.ACCEPTED and sug.document_id is not None
        assert s.get_one(Document, sug.document_id).kind.value == "purchase_order"
    second = ts.planning(session_factory, demo, safety=None)["suggestion_id"]
    post(client, f"/console/today/suggestions/{second}/dismiss", {"reason": "下周促销结束", "request_id": _key()})
    with session_factory() as s:
        sug = s.get_one(ReplenishmentSuggestion, second)
        assert sug.status == SuggestionStatus.DISMISSED and sug.decision_note == "下周促销结束"
    page = _page(client)
    assert "补货建议：" not in page and "已忽略该补货建议" in page


def test_replay_a_dead_letter(console_as, session_factory, demo):
    dead = ts.dead_letter(session_factory, demo)
    manager = _page(console_as("赵经理"))  # reads dead letters (rules) but may not put them back in line (roles)
    assert "连接被拒绝" in manager and "重新处理需总监或管理员操作" in manager and "重新处理</button>" not in manager
    client = console_as("钱总监")
    response = post(client, f"/console/today/dead-letters/{dead}/replay", {"request_id": _key()})
    assert response.status_code == 303
    page = _page(client)
    assert "已重新排队处理" in page and "连接被拒绝" not in page
    with session_factory() as s:
        run_ = s.get_one(HandlerRun, dead)
        assert run_.status == RunStatus.RETRY and run_.attempts == 0


def test_a_long_group_shows_fifty_cards_and_a_more_link(console_as, session_factory, demo):
    for n in range(53):
        ts.escalated_task(session_factory, demo, overdue=True, title=f"第{n}件")
    client = console_as("赵经理")
    page = _page(client)
    assert page.count('data-kind="escalation"') == 50 and "更多（共 53 条）" in page
    full = client.get("/console/?group=overdue").get_data(as_text=True)
    assert full.count('data-kind="escalation"') == 53 and "返回全部分组" in full
    junk = client.get("/console/?group=nonsense").get_data(as_text=True)  # junk: everything, no error
    assert junk.count('data-kind="escalation"') == 50
