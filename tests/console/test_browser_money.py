"""资金 in a real browser: settle a farmer, and edit a mapping rule with its preview (phone and desktop)."""

from __future__ import annotations

from sqlalchemy import select

from models.finance import MappingRule
from tests.console.browser import axe_violations, no_sideways_scroll, shoot
from tests.console.money_fixtures import deliveries, farmer_rule_id


def _accept_confirms(page) -> None:
    page.on("dialog", lambda dialog: dialog.accept())


def test_settle_a_farmer(console_browser, demo, actors, session_factory):
    first, second = deliveries(session_factory, demo, actors, 2)
    page = console_browser("吴会计")
    _accept_confirms(page)
    page.goto(f"{page.base_url}/console/money?side=payable")
    page.wait_for_selector("text=应付账龄")
    assert no_sideways_scroll(page)
    assert axe_violations(page) == []
    shoot(page, "money-aging-phone")
    page.click("nav.money-nav >> text=农户结算")
    page.wait_for_selector("h1:has-text('待付款的农户')")  # htmx swaps the page: the aging also links 王阿姨
    page.click("a:has-text('王阿姨')")
    page.wait_for_selector("text=结算：王阿姨")
    assert no_sideways_scroll(page)
    assert axe_violations(page) == []
    page.uncheck("input[name=settlement_id] >> nth=1")  # pay only the first delivery now
    shoot(page, "money-settle-phone")
    page.click("button:has-text('结算所选交货')")
    page.wait_for_selector("h1:has-text('结算单')")
    text = page.text_content("main")
    assert first.number in text and second.number not in text and "已结算" in text
    assert no_sideways_scroll(page)
    shoot(page, "money-settlement-phone")
    desk = console_browser("吴会计", desktop=True)
    desk.goto(f"{desk.base_url}/console/money/settlements/farmers/{demo.parties['王阿姨']}")
    assert second.number in desk.text_content("main") and first.number not in desk.text_content("main")
    shoot(desk, "money-settle-desktop")


def test_edit_a_mapping_rule_with_preview(console_browser, demo, actors, session_factory):
    deliveries(session_factory, demo, actors, 1)
    rule_id = farmer_rule_id(session_factory, demo.org_id)
    page = console_browser("吴会计", desktop=True)
    _accept_confirms(page)
    page.goto(f"{page.base_url}/console/money/rules")
    page.wait_for_selector("h1:has-text('记账规则')")
    page.click("a:has-text('农户交售入库')")
    page.wait_for_selector("text=修改分录")
    assert axe_violations(page) == []
    page.select_option("#account-0", "1403")
    page.fill("#repost_from", "2000-01-01")
    page.fill("#reason", "茶青记原材料")
    page.click("button:has-text('预览影响')")
    page.wait_for_selector(".rule-preview")
    preview = page.text_content(".rule-preview")
    assert "将冲销并重记 1 张凭证" in preview and "1403" in preview
    shoot(page, "money-rule-preview-desktop")
    page.click("button:has-text('确认修改')")
    page.wait_for_selector("text=规则已更新为第 2 版")
    with session_factory() as s:
        new = s.scalars(select(MappingRule).where(MappingRule.family_id == rule_id, MappingRule.active.is_(True))).one()
    assert new.version == 2 and new.lines[0]["account"] == "1403"
    shoot(page, "money-rule-changed-desktop")
    phone = console_browser("吴会计")
    phone.goto(f"{phone.base_url}/console/money/rules/{new.id}")
    assert no_sideways_scroll(phone)
    assert axe_violations(phone) == []
    shoot(phone, "money-rule-phone")
    phone.goto(f"{phone.base_url}/console/money/cash")
    phone.wait_for_selector("[data-chart] svg")
    assert no_sideways_scroll(phone)
    assert axe_violations(phone) == []
    shoot(phone, "money-cash-phone")
