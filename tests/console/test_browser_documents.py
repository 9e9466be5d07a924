"""单据 in a real browser: write a transfer request at the desk, find it, open it, see its approval
waiting; reverse a receipt with a reason on a phone and see the reversal."""

from __future__ import annotations

from tests.console.browser import axe_violations, no_sideways_scroll, shoot
from tests.miniprogram_api.fixtures_3b import receive


def test_request_a_transfer_find_it_and_see_its_approval_waiting(console_browser, demo):
    page = console_browser("老孙", desktop=True)
    page.click("nav >> text=单据")
    page.click("text=调拨申请")
    page.select_option("#d-from", str(demo.sites["ZC"]))
    page.select_option("#d-to", str(demo.sites["MD"]))
    page.select_option("#d-item-0", str(demo.items["龙井"]))
    page.fill("#d-qty-0", "2")
    page.fill("#d-unit-0", "箱")
    page.fill("#d-note", "节前门店备货")
    page.click("button.primary")
    page.wait_for_selector(".flash.ok")
    number = page.locator(".flash.ok").text_content().split()[-1]
    assert number.startswith("DB-ZC-")

    page.click("a:has-text('单据列表')")
    page.select_option("#f-kind", "transfer")
    page.select_option("#f-status", "requested")
    page.click("button:has-text('筛选')")
    page.wait_for_url(lambda url: "kind=transfer" in url)
    assert page.locator("tbody tr").count() == 1
    assert no_sideways_scroll(page)
    shoot(page, "documents-list-desktop")
    assert axe_violations(page) == []
    page.click(f"a:has-text('{number}')")
    page.wait_for_selector("#h-approval")
    approval = page.locator("section[aria-labelledby=h-approval]").text_content()
    assert "审批中" in approval and "待审批" in approval and "主管" in approval
    assert "40 罐" in page.locator("section[aria-labelledby=h-lines]").text_content()
    shoot(page, "documents-transfer-desktop")
    assert axe_violations(page) == []


def test_reverse_a_receipt_with_a_reason_on_a_phone(console_browser, demo, actors, session_factory):
    receipt = receive(session_factory, demo, actors, qty="20")
    page = console_browser("赵经理")
    page.goto(f"{page.base_url}/console/documents")
    assert no_sideways_scroll(page)
    shoot(page, "documents-list-phone")
    assert axe_violations(page) == []
    page.click(f"a:has-text('{receipt.number}')")
    page.wait_for_selector("#h-reverse")
    assert no_sideways_scroll(page)
    shoot(page, "documents-receipt-phone")
    assert axe_violations(page) == []
    page.fill("#reverse-reason", "重量录错")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("button:has-text('冲销此单')")
    page.wait_for_selector(".flash.ok")
    assert f"已冲销 {receipt.number}" in page.locator(".flash.ok").text_content()
    assert f"冲销 {receipt.number}：重量录错" in page.locator("main").text_content()
    assert "-20 公斤" in page.locator("section[aria-labelledby=h-moves]").text_content()
    assert no_sideways_scroll(page)
    shoot(page, "documents-reversal-phone")


def test_new_sales_order_form_previews_margin_on_a_phone(console_browser, demo, actors, session_factory):
    receive(session_factory, demo, actors, qty="30")
    page = console_browser("赵经理")
    page.goto(f"{page.base_url}/console/documents/new/sales_order")
    page.select_option("#d-site", str(demo.sites["SX"]))
    page.select_option("#d-party", str(demo.parties["杭州茶城"]))
    page.select_option("#d-item-0", str(demo.items["茶青"]))
    page.fill("#d-qty-0", "10")
    page.fill("#d-unit-0", "斤")
    page.fill("#d-price-0", "150")
    page.click("button:has-text('预览毛利')")
    page.wait_for_selector("#h-preview")
    assert "¥750.00" in page.locator("section[aria-labelledby=h-preview]").text_content()
    assert no_sideways_scroll(page)
    shoot(page, "documents-new-sales-order-phone")
    assert axe_violations(page) == []
