"""Approval cards are pure functions: snapshot their DingTalk and WeChat payloads."""

from __future__ import annotations

from datetime import UTC, datetime

from cards.approval import ApprovalCard, Decision, dingtalk_card, wechat_subscribe

CREATED = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
PENDING = ApprovalCard(request_id=7, doc_kind="transfer", number="DB-SX-20261123-0001", summary="50公斤",
                       requested_by="小周", urgent=True, status="pending", step=0,
                       step_roles=("manager", "director"), created_at=CREATED)


def test_pending_card_has_buttons_and_progress():
    assert dingtalk_card(PENDING) == {
        "title": "【加急】调拨申请 DB-SX-20261123-0001",
        "summary": "50公斤",
        "requested_by": "小周",
        "requested_at": "2026-11-23 10:00",
        "progress": "●主管 → ○总监",
        "status": "pending",
        "status_label": "待审批",
        "outcome": "",
        "decided": "false",
        "buttons": '[{"id": "approve", "text": "同意", "color": "blue"}, '
                   '{"id": "reject", "text": "驳回", "color": "red", "needReason": true}]',
        "request_id": "7",
        "version": "0",
    }


def test_decided_card_shows_who_and_when_and_no_buttons():
    at = datetime(2026, 11, 23, 3, 5, tzinfo=UTC)
    card = ApprovalCard(**{**PENDING.__dict__, "status": "rejected", "version": 1,
                           "history": (Decision(0, "赵经理", False, "总仓库存不足", at),)})
    params = dingtalk_card(card)
    assert params["outcome"] == "赵经理 于 2026-11-23 11:05 驳回：总仓库存不足"
    assert params["progress"] == "✘主管 → ○总监"
    assert params["decided"] == "true" and params["buttons"] == "[]" and params["status_label"] == "已驳回"


def test_wechat_subscribe_message_links_into_the_mini_program():
    assert wechat_subscribe(PENDING, template_id="tpl-1") == {
        "template_id": "tpl-1",
        "page": "pages/approvals/detail?id=7",
        "data": {
            "thing1": {"value": "调拨申请"},
            "character_string2": {"value": "DB-SX-20261123-0001"},
            "thing3": {"value": "50公斤"},
            "name4": {"value": "小周"},
            "phrase5": {"value": "待审批"},
        },
    }
