"""Override a forecast and run the sandbox in a real browser, at phone and desktop size."""

from __future__ import annotations

from tests.console.browser import axe_violations, no_sideways_scroll, shoot
from tests.console.planning_fixtures import fake_engine, monday, planned_fixture  # noqa: F401  (fixtures)


def _chart_drawn(page, chart_id: str) -> None:
    """ECharts drew the chart (an SVG with paths inside the chart's box)."""
    page.wait_for_selector(f"[data-chart='{chart_id}'] svg path", state="attached")
    assert page.locator(f"[data-chart='{chart_id}'] svg path").count() > 10


def test_override_a_forecast_and_run_the_sandbox(console_browser, planned):
    page = console_browser("赵经理")
    page.click("nav[aria-label='主菜单'] >> text=计划")
    page.wait_for_selector("h1:has-text('需求计划')")
    assert no_sideways_scroll(page)
    assert axe_violations(page) == []
    shoot(page, "planning-phone")

    page.click("table >> text=龙井 250g 罐")
    page.wait_for_selector("h1:has-text('龙井 250g 罐 · 门店')")
    _chart_drawn(page, "plan-chart")
    assert no_sideways_scroll(page)
    assert axe_violations(page) == []
    page.select_option("#ov-week", monday(0).isoformat())
    page.fill("#ov-weeks", "2")
    page.fill("#ov-qty", "9")
    page.fill("#ov-reason", "团购订单")
    page.click("button:has-text('保存调整')")
    page.wait_for_selector("text=已调整 2 周的预测")
    _chart_drawn(page, "plan-chart")
    assert page.locator("td:has-text('团购订单')").count() == 1
    assert page.locator("td:has-text('已调整')").count() == 2
    shoot(page, "planning-item-phone")

    page.click("text=在试算中改参数看看")
    page.wait_for_selector("h1:has-text('试算')")
    page.fill("#sb-level", "99")
    page.fill("#sb-lead", "3")
    page.click("button:has-text('试算')")
    page.wait_for_selector("text=合计：当前方案 → 试算方案")
    _chart_drawn(page, "sandbox-chart")
    assert page.locator("td.plan-reason").count() == 2
    assert no_sideways_scroll(page)
    assert axe_violations(page) == []
    shoot(page, "planning-sandbox-phone")

    desk = console_browser("赵经理", desktop=True)
    desk.goto(f"{desk.base_url}/console/planning/{planned.item_id}/{planned.site_id}")
    _chart_drawn(desk, "plan-chart")
    assert axe_violations(desk) == []
    shoot(desk, "planning-item-desktop")
    desk.goto(f"{desk.base_url}/console/planning/suggestions")
    assert desk.locator("h1").first.text_content() == "补货建议"
    assert axe_violations(desk) == []
    shoot(desk, "planning-suggestions-desktop")
