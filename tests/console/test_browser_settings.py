"""设置 and 导入导出 in a real browser: import a sheet with an error row, fix it and import; add a
farmer and issue a binding code. Phone and desktop screenshots; axe clean; no sideways scroll."""

from __future__ import annotations

from sqlalchemy import select

from models.catalog import Item, ItemUnit
from tests.console.browser import ARTIFACTS, axe_violations, no_sideways_scroll, shoot
from tests.operations.test_settings_admin import ITEM_HEAD, workbook
from tests.security.conftest import rows


def test_import_a_sheet_with_an_error_row(console_browser, demo, engine, session_factory):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    bad, good = ARTIFACTS / "items-bad.xlsx", ARTIFACTS / "items-good.xlsx"
    bad.write_bytes(workbook(ITEM_HEAD, ["BC", "白茶", "公斤", "重量", 365, "安吉白茶", 300, "特级=200"],
                             ["HC", "红茶", "罐", "重量", None, None, None, None]))
    good.write_bytes(workbook(ITEM_HEAD, ["BC", "白茶", "公斤", "重量", 365, "安吉白茶", 300, "特级=200"],
                              ["HC", "红茶", "罐", "计数", None, None, None, None]))
    page = console_browser("赵经理")
    page.click("nav >> text=导入导出")
    page.wait_for_selector("h1:has-text('导入导出')")
    assert no_sideways_scroll(page)
    assert axe_violations(page) == []
    before = rows(engine)
    page.set_input_files("#file-items", str(bad))
    page.click("form[action$='/imports/items'] button[type=submit]")
    report = page.locator(".import-report")
    report.wait_for()
    text = report.text_content() or ""
    assert "第 3 行" in text and "基本单位" in text and "未写入任何数据" in text
    assert no_sideways_scroll(page)
    shoot(page, "import-error-phone")
    assert rows(engine) == before
    page.set_input_files("#file-items", str(good))
    page.click("form[action$='/imports/items'] button[type=submit]")
    page.wait_for_selector("text=已导入 2 行商品")
    page.goto(f"{page.base_url}/console/settings/items?q=茶")
    assert page.locator("td:has-text('白茶')").count() == 1
    with session_factory() as s:
        assert {"BC", "HC"} <= set(s.scalars(select(Item.code).where(Item.org_id == demo.org_id)))
    opening = ARTIFACTS / "opening-stock.xlsx"
    opening.write_bytes(workbook(["站点编码", "商品编码", "数量", "单位成本"], ["ZC", "BC", 12, 180]))
    page.goto(f"{page.base_url}/console/imports")
    page.set_input_files("#file-opening_stock", str(opening))
    page.click("form[action$='/imports/opening_stock'] button[type=submit]")
    page.wait_for_selector("text=已导入 1 行期初库存")
    desk = console_browser("赵经理", desktop=True)
    desk.goto(f"{desk.base_url}/console/imports")
    desk.set_input_files("#file-items", str(bad))
    desk.click("form[action$='/imports/items'] button[type=submit]")
    desk.locator(".import-report").wait_for()
    shoot(desk, "import-error-desktop")
    assert axe_violations(desk) == []


def test_add_a_farmer_and_issue_a_binding_code(console_browser, demo):
    page = console_browser("赵经理")
    page.click("nav >> text=设置")
    page.click(".subnav >> text=农户与客户")
    page.wait_for_selector("h1:has-text('农户')")
    assert no_sideways_scroll(page)
    assert axe_violations(page) == []
    page.select_option("#party-kind", "farmer")
    page.fill("#party-code", "F088")
    page.fill("#party-name", "孙阿婆")
    page.fill("#party-phone", "13700000088")
    page.click("text=添加 >> nth=-1")
    page.wait_for_selector("h1:has-text('孙阿婆')")
    page.click("text=开通农户账号")
    page.wait_for_selector("text=成员已添加")
    page.click("button:has-text('发放绑定码')")
    code = page.locator(".binding-code .code")
    code.wait_for()
    assert len((code.text_content() or "").replace(" ", "")) == 12
    assert page.locator(".binding-code img").get_attribute("src", timeout=2000).startswith("data:image/png")
    assert no_sideways_scroll(page)
    shoot(page, "binding-code-phone")
    assert axe_violations(page) == []
    desk = console_browser("钱总监", desktop=True)
    desk.goto(f"{desk.base_url}/console/settings/members")
    assert desk.locator("td:has-text('孙阿婆')").count() == 1
    shoot(desk, "settings-members-desktop")
    assert axe_violations(desk) == []
    desk.goto(f"{desk.base_url}/console/settings")
    shoot(desk, "settings-desktop")
    assert axe_violations(desk) == []


def test_add_a_pack_on_an_item_page(console_browser, demo, session_factory):
    page = console_browser("赵经理")
    page.goto(f"{page.base_url}/console/settings/items/{demo.items['龙井']}")
    page.wait_for_selector("h2:has-text('包装')")
    page.fill("#pack-name", "提")
    page.fill("#pack-factor", "6")
    page.click("button:has-text('添加包装')")
    page.wait_for_selector("text=1 提 = 6 罐")
    with session_factory() as s:
        assert s.scalar(select(ItemUnit.factor).where(ItemUnit.item_id == demo.items["龙井"],
                                                      ItemUnit.name == "提")) == 6
    assert no_sideways_scroll(page)
    shoot(page, "item-packs-phone")
    assert axe_violations(page) == []
    page.goto(f"{page.base_url}/console/settings/units")
    page.wait_for_selector("h1:has-text('计量单位')")
    assert no_sideways_scroll(page)
    assert axe_violations(page) == []
