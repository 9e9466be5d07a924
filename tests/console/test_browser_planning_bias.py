"""The bias-attribution board in a real browser at phone width: no sideways scroll, the other causes open."""

from __future__ import annotations

from tests.console.browser import axe_violations, no_sideways_scroll, shoot
from tests.planning_api.bias_fixtures import fake_engine, missed_fixture  # noqa: F401  (fixtures)


def test_the_bias_board_on_a_phone(console_browser, missed):
    page = console_browser("赵经理")
    page.goto(f"{page.base_url}/console/planning")
    page.click("nav[aria-label='计划'] >> text=偏差归因")
    page.wait_for_selector("h1:has-text('偏差归因')")
    page.wait_for_selector("text=缺货截断需求")
    page.click("summary:has-text('其他 2 个可能原因')")
    page.wait_for_selector("li:has-text('人工调整变差')", state="visible")
    assert no_sideways_scroll(page)
    assert axe_violations(page) == []
    shoot(page, "planning-bias-phone")
