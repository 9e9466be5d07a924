"""A day run from the 计划 form and its daily chart, in a real browser at phone size."""

from __future__ import annotations

import pytest

from tests.console.browser import axe_violations, no_sideways_scroll, shoot
from tests.console.test_browser_planning import _chart_drawn
from tests.console.test_planning_days import _daily_history
from tests.models.planning_fakes import fake_engine  # noqa: F401  (a fixture)

pytestmark = pytest.mark.usefixtures("fake_engine")


def test_run_a_day_forecast_and_read_its_days(console_browser, session_factory, demo, actors):
    _daily_history(session_factory, demo, actors)
    page = console_browser("赵经理")
    page.click("nav[aria-label='主菜单'] >> text=计划")
    page.wait_for_selector("h1:has-text('需求计划')")
    page.check("input[name='frequency'][value='day']")
    page.fill("#horizon", "21")
    page.click("button:has-text('运行预测')")
    page.wait_for_selector("text=按日预测完成：1 个商品 × 地点，21 天行")
    assert no_sideways_scroll(page)
    assert axe_violations(page) == []
    page.click("table >> text=龙井 250g 罐")
    page.wait_for_selector("h1:has-text('龙井 250g 罐 · 门店')")
    _chart_drawn(page, "day-chart")
    assert page.locator("#days-h + .table tbody tr").count() == 21
    assert no_sideways_scroll(page)
    assert axe_violations(page) == []
    shoot(page, "planning-days-phone")
