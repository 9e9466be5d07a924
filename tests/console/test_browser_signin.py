"""Sign in and see 首页 in a real browser, at phone and desktop size."""

from __future__ import annotations

from tests.console.browser import axe_violations, no_sideways_scroll, shoot


def test_sign_in_and_today_in_a_real_browser(console_browser):
    page = console_browser("赵经理")
    assert page.locator("h1").first.text_content() == "待我处理"
    assert no_sideways_scroll(page)
    shoot(page, "today-phone")
    assert axe_violations(page) == []
    desk = console_browser("钱总监", desktop=True)
    assert "钱总监" in desk.text_content("header")
    shoot(desk, "today-desktop")

