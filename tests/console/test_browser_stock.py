"""库存 in a real browser: open stock at 360 px, filter to frozen, open a lot, see its trace, record a
QC fail on it and see it held. Phone and desktop screenshots; axe clean; no sideways scroll."""

from __future__ import annotations

from models.stock import Lot, QcStatus
from tests.console.browser import axe_violations, no_sideways_scroll, shoot
from tests.console.stock_fixtures import stock_demo


def test_filter_to_frozen_open_a_lot_and_fail_its_qc(console_browser, session_factory, demo, actors):
    stocked = stock_demo(session_factory, demo, actors)
    page = console_browser("赵经理")
    page.click("header nav >> text=库存")
    page.wait_for_url("**/console/stock")
    assert no_sideways_scroll(page)
    assert axe_violations(page) == []
    shoot(page, "stock-phone")

    page.check("#f-held")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**held=1**")
    assert page.locator("table.stock-list > tbody > tr:not(.lots-row)").count() == 1
    page.click("table.stock-list summary")
    page.click(f"text={stocked.li_code}")
    page.wait_for_url(f"**/console/stock/lots/{stocked.li_lot}")
    ledger = page.text_content("table.ledger")
    assert "入库单" in ledger and "李大伯" in ledger
    assert "冷库温度超标" in page.text_content("body")
    assert no_sideways_scroll(page)
    assert axe_violations(page) == []
    shoot(page, "stock-lot-phone")

    page.check("#qc-fail")
    page.fill("#qc-note", "水分超标")
    page.click("form.stock-form button:has-text(\"记录质检\")")
    page.wait_for_selector("text=质检已记录：不合格")
    assert "质检扣留" in page.text_content("body")
    with session_factory() as s:
        assert s.get_one(Lot, stocked.li_lot).qc_status == QcStatus.FAILED
    shoot(page, "stock-lot-qc-failed-phone")

    desk = console_browser("赵经理", desktop=True)
    desk.goto(f"{desk.base_url}/console/stock?held=1")
    assert stocked.li_code in desk.text_content("body")
    assert no_sideways_scroll(desk)
    shoot(desk, "stock-desktop")
    desk.goto(f"{desk.base_url}/console/stock/value")
    desk.wait_for_selector("[data-chart] svg")
    assert axe_violations(desk) == []
    shoot(desk, "stock-value-desktop")
    desk.goto(f"{desk.base_url}/console/stock/lots/{stocked.wang_lot}")
    assert "杭州茶城" in desk.text_content("body")
    shoot(desk, "stock-lot-desktop")
