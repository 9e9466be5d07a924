"""首页 in a real browser: approve a transfer and lift a freeze in one step each, at phone and desktop size."""

from __future__ import annotations

from sqlalchemy import select

from models.approvals import ApprovalRequest
from models.documents import DocStatus, Document
from models.stock import Freeze
from tests.console import today_setup as ts
from tests.console.browser import axe_violations, no_sideways_scroll, shoot


def _card(page, text):
    return page.locator("li.card", has_text=text)


def test_approve_a_transfer_from_today(console_browser, session_factory, demo, actors):
    transfer = ts.requested_transfer(session_factory, demo, actors)  # 小周 asks at 绍兴
    # a full 首页: the page stays readable with every group on it
    ts.escalated_task(session_factory, demo)
    ts.near_expiry_lot(session_factory, demo, actors)
    ts.planning(session_factory, demo)
    ts.dead_letter(session_factory, demo)
    page = console_browser("赵经理")
    card = _card(page, f"待审批调拨 {transfer.number}")
    assert card.count() == 1 and "申请人 小周" in card.text_content()
    assert no_sideways_scroll(page)
    assert axe_violations(page) == []
    shoot(page, "today-approve-phone")
    card.get_by_role("button", name="同意").click()
    page.locator(".flash.ok", has_text="已同意").wait_for()
    assert _card(page, f"待审批调拨 {transfer.number}").count() == 0
    with session_factory() as s:
        assert s.get_one(Document, transfer.document_id).status == DocStatus.APPROVED
        req = s.scalars(select(ApprovalRequest).where(ApprovalRequest.document_id == transfer.document_id)).one()
        assert req.status.value == "approved"
    desk = console_browser("赵经理", desktop=True)
    assert no_sideways_scroll(desk)
    assert axe_violations(desk) == []
    shoot(desk, "today-approve-desktop")


def test_lift_a_freeze_from_today(console_browser, session_factory, demo, actors):
    _receipt, freeze = ts.frozen_lot(session_factory, demo, actors)
    page = console_browser("赵经理", desktop=True)
    card = _card(page, "冷库温度超限")
    assert card.count() == 1
    shoot(page, "today-freeze-desktop")
    card.get_by_label("解冻原因").fill("复查温度正常，已恢复制冷")
    card.get_by_role("button", name="解除冻结").click()
    page.locator(".flash.ok", has_text="已解冻").wait_for()
    assert _card(page, "冷库温度超限").count() == 0
    with session_factory() as s:
        assert not s.get_one(Freeze, freeze.freeze_id).active
    phone = console_browser("赵经理")
    assert phone.locator("li.card", has_text="冷库温度超限").count() == 0 and no_sideways_scroll(phone)
    shoot(phone, "today-freeze-phone")
