"""Build and sandbox a rule in a real browser: fill the sentence (two conditions), try it on last week's events,
see the hits, save it, find it in the list — at phone size; the event-health charts at desktop size."""

from __future__ import annotations

from decimal import Decimal

from models.operations import ReceiveGoods, receive_goods
from models.queries.workflow_config import list_rules
from models.uow import run
from tests.console.browser import axe_violations, no_sideways_scroll, shoot


def test_build_sandbox_and_save_a_rule(console_browser, session_factory, demo, actors):
    for qty in ("12", "5", "30"):
        run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
            site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal(qty), unit="公斤",
            party_id=demo.parties["王阿姨"], grade_id=demo.grades["二级"]))
    page = console_browser("钱总监")
    page.get_by_role("link", name="协同").click()
    page.wait_for_url("**/console/collaboration/")
    assert no_sideways_scroll(page)
    page.get_by_role("link", name="新建规则").click()
    page.wait_for_url("**/rules/new")
    page.fill("#rule-name", "大额鲜叶提醒")
    page.fill("#rule-code", "big-leaf")
    page.select_option("#rule-trigger", "receipt.posted")
    page.select_option("#cond-0-field", "quantity")
    page.select_option("#cond-0-op", ">")
    page.fill("#cond-0-value", "10")
    # A second condition: a plain submit button brings the same form back with one row more.
    page.get_by_role("button", name="＋ 加一个条件").click()
    page.wait_for_selector("#cond-1-field")
    assert page.input_value("#cond-0-value") == "10" and page.input_value("#rule-name") == "大额鲜叶提醒"
    page.select_option("#cond-1-field", "site_id")
    page.select_option("#cond-1-op", "==")
    page.get_by_label("条件 2 的值").fill(str(demo.sites["SX"]))
    page.select_option("#rule-join", "and")
    page.select_option("#act-0-type", "notify")
    page.select_option("#act-0-role", "manager")
    page.fill("#act-0-text", "{number} 到货 {quantity} 公斤，请安排质检")
    assert page.get_by_role("button", name="试运行（最近 7 天）").is_visible()
    page.press("#act-0-text", "Enter")  # Enter in a field runs the sandbox, not the first "add a row" button
    page.wait_for_selector(".sandbox")
    assert page.locator(".sandbox .hits").text_content() == "2"
    assert page.locator(".sandbox tbody tr").count() == 2
    assert "通知 主管：RK-SX-" in page.locator(".sandbox").text_content()
    assert page.input_value("#cond-0-value") == "10"  # the sentence survived the round trip
    assert page.input_value("#cond-1-value") == str(demo.sites["SX"])
    assert no_sideways_scroll(page)
    assert axe_violations(page) == []
    shoot(page, "collaboration-sandbox-phone")
    page.get_by_role("button", name="保存规则").click()
    page.wait_for_url("**/console/collaboration/")
    assert "规则「大额鲜叶提醒」已创建" in page.locator(".flashes").text_content()
    row = page.locator("tbody tr", has_text="大额鲜叶提醒")
    said = "当收货入库且数量大于 10 且地点是 绍兴收购点 时，通知主管"  # the site's id said by its name
    assert said in row.text_content() and "启用中" in row.text_content()
    assert no_sideways_scroll(page)
    assert axe_violations(page) == []
    shoot(page, "collaboration-rules-phone")
    with session_factory() as s:
        (rule,) = list_rules(s, actors["钱总监"])
    assert (rule.code, rule.enabled, rule.condition) == ("big-leaf", True, {"and": [
        {">": [{"var": "event.quantity"}, "10"]}, {"==": [{"var": "event.site_id"}, str(demo.sites["SX"])]}]})

    desk = console_browser("赵经理", desktop=True)
    desk.goto(f"{desk.base_url}/console/collaboration/health")
    desk.wait_for_selector("[data-chart] svg")
    assert desk.locator("[data-chart] svg").count() == 3
    assert no_sideways_scroll(desk) and axe_violations(desk) == []
    shoot(desk, "collaboration-health-desktop")
    desk.goto(f"{desk.base_url}/console/collaboration/")
    assert "大额鲜叶提醒" in desk.locator("table").text_content()
    shoot(desk, "collaboration-rules-desktop")


def test_every_collaboration_page_reads_at_phone_size(console_browser):
    page = console_browser("钱总监")
    for path, name in (("chains", "chains"), ("webhooks", "webhooks"), ("devices", "devices"), ("health", "health")):
        page.goto(f"{page.base_url}/console/collaboration/{path}")
        assert no_sideways_scroll(page), path
        assert axe_violations(page) == [], path
        shoot(page, f"collaboration-{name}-phone")
