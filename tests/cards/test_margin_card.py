"""A sales order's approval card carries its margin preview; other kinds' cards do not change."""

from __future__ import annotations

from cards.approval import ApprovalCard, dingtalk_card, wechat_subscribe
from tests.cards.test_approval import CREATED, PENDING

SALES = ApprovalCard(request_id=9, doc_kind="sales_order", number="XS-ZC-20261205-0001", summary="50公斤",
                     requested_by="赵经理", urgent=False, status="pending", step=0,
                     step_roles=("manager", "director"), created_at=CREATED,
                     preview=("毛利 40.00 元，毛利率 2.4%", "应收 0.00 + 本单 1640.00 = 1640.00，额度 不限"),
                     preview_brief="毛利40.00元 2.4%")


def test_the_sales_order_card_shows_margin_and_exposure():
    params = dingtalk_card(SALES)
    assert params["title"] == "销售订单 XS-ZC-20261205-0001"
    assert params["preview"] == "毛利 40.00 元，毛利率 2.4%\n应收 0.00 + 本单 1640.00 = 1640.00，额度 不限"
    assert wechat_subscribe(SALES, template_id="t")["data"]["thing3"] == {"value": "毛利40.00元 2.4%"}


def test_other_cards_carry_no_preview():
    assert "preview" not in dingtalk_card(PENDING)
    assert wechat_subscribe(PENDING, template_id="t")["data"]["thing3"] == {"value": "50公斤"}
