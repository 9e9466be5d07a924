"""设置 and 导入导出 through the Flask client: the pages show the demo org's facts and nothing of
another org; each action changes state through its operation; refusals write nothing."""

from __future__ import annotations

import io
from decimal import Decimal

import openpyxl
from sqlalchemy import select

from models.catalog import Grade, Item, ItemUnit, Unit
from models.demo import seed_demo
from models.infra import AuditEntry
from models.org import Member, Party, Site, SitePolicy
from tests.console.conftest import post
from tests.operations.test_settings_admin import ITEM_HEAD, workbook
from tests.security.conftest import rows


def test_pages_show_this_org_and_not_another(console_as, demo, session_factory):
    with session_factory.begin() as s:
        other = seed_demo(s, code="OTHER", name="别家合作社")
        s.get_one(Item, other.items["茶青"]).name = "别家的茶青"
    client = console_as("赵经理")
    items = client.get("/console/settings/items").get_data(as_text=True)
    assert "茶青" in items and "龙井 250g 罐" in items and "别家的茶青" not in items
    assert "特级 ¥120.00/公斤" in items
    parties = client.get("/console/settings/parties?kind=farmer").get_data(as_text=True)
    assert "王阿姨" in parties and "杭州茶城" not in parties
    members = client.get("/console/settings/members").get_data(as_text=True)
    assert "老孙" in members and "仓管@总仓" in members
    assert client.get(f"/console/settings/items/{other.items['茶青']}").status_code == 404
    assert client.get(f"/console/settings/members/{other.members['小周']}").status_code == 404
    index = client.get("/console/settings").get_data(as_text=True)
    assert "绍兴收购点" in index and "龙井山茶叶专业合作社" in index


def test_clerk_sees_no_member_list(console_as):
    response = console_as("小周").get("/console/settings/members")
    assert response.status_code == 403 and "没有权限" in response.get_data(as_text=True)


def test_grade_price_change_is_audited_and_shown_in_the_log(console_as, demo, session_factory):
    client = console_as("赵经理")
    grade = demo.grades["特级"]
    page = f"/console/settings/items/{demo.items['茶青']}"
    html = client.get(page).get_data(as_text=True)
    request_id = html.split('name="request_id" value="')[1].split('"')[0]
    data = {"purchase_price": "130", "reason": "春茶上市", "request_id": request_id}
    first = post(client, f"/console/settings/grades/{grade}/price", data, page=page)
    again = post(client, f"/console/settings/grades/{grade}/price", data, page=page)  # a double submit
    assert first.status_code == again.status_code == 303
    with session_factory() as s:
        assert s.get_one(Grade, grade).purchase_price == Decimal(130)
        assert len(s.scalars(select(AuditEntry).where(AuditEntry.org_id == demo.org_id,
                                                           AuditEntry.action == "grade.price_changed")).all()) == 1
    log = client.get("/console/settings/audit?action=grade.").get_data(as_text=True)
    assert "等级收购价" in log and "春茶上市" in log and "赵经理" in log


def test_add_a_farmer_then_issue_a_binding_code(console_as, demo, session_factory):
    client = console_as("赵经理")
    created = post(client, "/console/settings/parties", {"kind": "farmer", "code": "F010", "name": "周大姐",
                                                          "phone": "13700000010"}, page="/console/settings/parties")
    assert created.status_code == 303
    with session_factory() as s:
        party = s.scalars(select(Party).where(Party.org_id == demo.org_id, Party.code == "F010")).one()
    page = f"/console/settings/parties/{party.id}"
    made = post(client, "/console/settings/members", {"party_id": party.id, "role": "farmer", "name": "周大姐",
                                                       "phone": "13700000010"}, page=page)
    assert made.status_code == 303
    with session_factory() as s:
        member = s.scalars(select(Member).where(Member.party_id == party.id)).one()
    shown = post(client, f"/console/settings/members/{member.id}/binding-code", page=page)
    html = shown.get_data(as_text=True)
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    assert 'src="data:image/png;base64,' in html and "只能用一次" in html


def test_manager_cannot_add_staff_or_grant_director(console_as, demo, engine):
    client = console_as("赵经理")
    before = rows(engine)
    refused = post(client, "/console/settings/members", {"name": "冒充", "role": "director"},
                   page="/console/settings/members")
    assert refused.status_code == 303
    assert "没有权限：分配角色（PERMISSION_DENIED）" in client.get("/console/settings/members").get_data(as_text=True)
    grant = post(client, f"/console/settings/members/{demo.members['小周']}/roles", {"role": "director"},
                 page="/console/settings/members")
    assert grant.status_code == 403  # the page itself needs 分配角色
    assert rows(engine) == before


def test_junk_form_values_never_500(console_as, demo, engine):
    client = console_as("钱总监")
    before = rows(engine)
    for path, data in ((f"/console/settings/grades/{demo.grades['一级']}/price", {"purchase_price": "1e999",
                                                                                 "reason": "x"}),
                       ("/console/settings/org", {"name": "x", "prepayment_ratio": "NaN"}),
                       (f"/console/settings/items/{demo.items['茶青']}", {"name": "x", "shelf_life_days": "３"}),
                       ("/console/settings/members", {"name": "x", "role": "emperor"})):
        response = post(client, path, data)
        assert response.status_code == 303, path
    assert rows(engine) == before
    assert client.get("/console/settings/audit?since=2026-13-45").status_code == 422


def test_import_with_an_error_row_then_fixed(console_as, demo, engine, session_factory):
    client = console_as("赵经理")
    bad = workbook(ITEM_HEAD, ["BC", "白茶", "公斤", "重量", 365, None, None, None],
                   ["HC", "红茶", "公斤", "重量", "三十", None, None, None])
    before = rows(engine)
    response = client.post("/console/imports/items", data={
        "csrf_token": _csrf(client), "file": (io.BytesIO(bad), "items.xlsx")}, content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "第 3 行" in html and "保质期天数" in html and "不是数字" in html
    assert rows(engine) == before
    good = workbook(ITEM_HEAD, ["BC", "白茶", "公斤", "重量", 365, None, None, None],
                    ["HC", "红茶", "公斤", "重量", 30, None, None, None])
    response = client.post("/console/imports/items", data={
        "csrf_token": _csrf(client), "file": (io.BytesIO(good), "items.xlsx")}, content_type="multipart/form-data")
    assert response.status_code == 200 and "已导入 2 行商品" in response.get_data(as_text=True)
    with session_factory() as s:
        assert {"BC", "HC"} <= set(s.scalars(select(Item.code).where(Item.org_id == demo.org_id)))


def test_templates_and_exports_download(console_as, demo):
    client = console_as("钱总监")
    template = client.get("/console/imports/items/template.xlsx")
    assert template.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(template.data))
    assert [c.value for c in book.worksheets[0][1]] == ITEM_HEAD
    for name in ("items", "parties", "members", "sites", "audit"):
        response = client.get(f"/console/settings/export/{name}.xlsx")
        assert response.status_code == 200, name
        assert response.headers["Cache-Control"] == "no-store"
    sheet = openpyxl.load_workbook(io.BytesIO(client.get("/console/settings/export/parties.xlsx").data)).worksheets[0]
    assert "王阿姨" in [row[1] for row in sheet.iter_rows(values_only=True)]


def _csrf(client) -> str:
    from tests.console.conftest import csrf_of
    return csrf_of(client, "/console/imports")


def test_audit_export_keeps_the_pages_filter(console_as, demo):
    client = console_as("钱总监")
    page = f"/console/settings/items/{demo.items['茶青']}"
    post(client, f"/console/settings/grades/{demo.grades['一级']}/price", {"purchase_price": "85", "reason": "调"},
         page=page)
    post(client, f"/console/settings/items/{demo.items['茶青']}", {"name": "茶青", "active": "1", "reason": "改"},
         page=page)
    data = client.get(f"/console/settings/export/audit.xlsx?action=grade.&actor_id={demo.members['钱总监']}").data
    values = [r for r in openpyxl.load_workbook(io.BytesIO(data)).worksheets[0].iter_rows(values_only=True)]
    assert [r[3] for r in values[1:]] == ["grade.price_changed"]


def test_opening_stock_import_on_the_imports_page(console_as, demo, engine, session_factory):
    from models.documents import DocKind, Document

    client = console_as("赵经理")
    page = client.get("/console/imports").get_data(as_text=True)
    assert "导入期初库存" in page and "/console/imports/opening_stock/template.xlsx" in page
    template = client.get("/console/imports/opening_stock/template.xlsx")
    head = [c.value for c in openpyxl.load_workbook(io.BytesIO(template.data)).worksheets[0][1]]
    assert head == ["站点编码", "商品编码", "数量", "单位", "批次号", "等级", "单位成本", "生产日期", "到期日"]
    bad = workbook(head, ["ZC", "CQ", 10, "斤", None, "特级", 120, None, None],
                   ["ZC", "CQ", 5, None, None, None, "很贵", None, None])
    before = rows(engine)
    response = client.post("/console/imports/opening_stock", data={
        "csrf_token": _csrf(client), "file": (io.BytesIO(bad), "opening.xlsx")}, content_type="multipart/form-data")
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "第 3 行" in html and "单位成本" in html and "不是数字" in html
    assert rows(engine) == before
    good = workbook(head, ["ZC", "CQ", 10, "斤", None, "特级", 120, None, None],
                    ["ZC", "CQ", 5, None, None, None, 100, None, None])
    response = client.post("/console/imports/opening_stock", data={
        "csrf_token": _csrf(client), "file": (io.BytesIO(good), "opening.xlsx")}, content_type="multipart/form-data")
    assert response.status_code == 200 and "已导入 2 行期初库存" in response.get_data(as_text=True)
    with session_factory() as s:
        doc = s.scalars(select(Document).where(Document.org_id == demo.org_id,
                                               Document.kind == DocKind.OPENING)).one()
        assert doc.total_amount == Decimal("1100.00")  # 5 kg × 120 + 5 kg × 100
    listed = client.get("/console/documents?kind=opening").get_data(as_text=True)
    assert doc.number in listed and "期初入库" in listed
    detail = client.get(f"/console/documents/{doc.id}")
    assert detail.status_code == 200 and "期初入库过账" in detail.get_data(as_text=True)  # its trail, in words


def test_item_page_adds_a_grade_that_a_receipt_can_use_at_once(console_as, demo, session_factory, actors):
    from models.operations import ReceiveGoods, receive_goods
    from models.uow import run

    leaf = demo.items["茶青"]
    client = console_as("赵经理")
    page = f"/console/settings/items/{leaf}"
    assert post(client, f"{page}/grades", {"name": "三级", "purchase_price": "30", "reason": "新茶季"},
                page=page).status_code == 303
    assert "三级" in client.get(page).get_data(as_text=True)
    for bad, message in (({"name": "一级", "purchase_price": "70"}, "已有等级"),
                         ({"name": "四级", "purchase_price": "-1"}, "不能为负")):
        response = post(client, f"{page}/grades", bad, page=page)
        assert response.status_code == 303
        assert message in client.get(response.headers["Location"]).get_data(as_text=True)
    with session_factory() as s:
        grades = s.execute(select(Grade.name, Grade.purchase_price, Grade.rank).where(Grade.item_id == leaf)
                           .order_by(Grade.rank)).all()
        audit = s.scalars(select(AuditEntry.action).where(AuditEntry.org_id == demo.org_id,
                                                          AuditEntry.action == "grade.created")).all()
    assert [g.name for g in grades] == ["特级", "一级", "二级", "三级"] and grades[-1].purchase_price == Decimal(30)
    assert audit == ["grade.created"]  # the refused two wrote nothing
    new_grade = next(gid for gid, name in _grade_ids(session_factory, leaf) if name == "三级")
    receipt = run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=leaf, quantity=Decimal(10), unit="公斤",
        party_id=demo.parties["王阿姨"], grade_id=new_grade))
    assert receipt.amount == Decimal("300.00")  # 10 公斤 × 30: the new grade's price, no restart


def _grade_ids(session_factory, item_id: int) -> list[tuple[int, str]]:
    with session_factory() as s:
        return [(g.id, g.name) for g in s.scalars(select(Grade).where(Grade.item_id == item_id))]


def test_a_clerk_cannot_add_a_grade(console_as, demo, session_factory):
    client = console_as("小周")
    page = f"/console/settings/items/{demo.items['茶青']}"
    response = post(client, f"{page}/grades", {"name": "三级", "purchase_price": "300"}, page="/console/")
    assert response.status_code in (303, 403)
    assert all(name != "三级" for _, name in _grade_ids(session_factory, demo.items["茶青"]))


# --- units, packs and routes -------------------------------------------------------------------------

def test_units_page_adds_a_unit_and_the_item_page_edits_packs(console_as, demo, session_factory):
    client = console_as("赵经理")
    page = client.get("/console/settings/units").get_data(as_text=True)
    assert "计量单位" in page and "1 斤 = 0.5 公斤" in page
    response = post(client, "/console/settings/units", {"name": "筐", "dimension": "mass", "factor": "20"},
                    page="/console/settings/units")
    assert response.status_code == 303
    assert "1 筐 = 20 公斤" in client.get("/console/settings/units").get_data(as_text=True)
    bad = post(client, "/console/settings/units", {"name": "篓", "dimension": "mass", "factor": "abc"},
               page="/console/settings/units")
    assert bad.status_code == 303  # back to the form, with the operation's message
    assert "换算系数应为数字" in client.get(bad.headers["Location"]).get_data(as_text=True)
    with session_factory() as s:
        assert s.scalar(select(Unit.id).where(Unit.org_id == demo.org_id, Unit.name == "篓")) is None

    jar = demo.items["龙井"]
    item_page = f"/console/settings/items/{jar}"
    assert post(client, f"{item_page}/packs", {"name": "提", "factor": "6"}, page=item_page).status_code == 303
    html = client.get(item_page).get_data(as_text=True)
    assert "1 提 = 6 罐" in html
    with session_factory() as s:
        pack_id = s.scalar(select(ItemUnit.id).where(ItemUnit.item_id == jar, ItemUnit.name == "提"))
    assert post(client, f"{item_page}/packs/{pack_id}", {"name": "提", "factor": "8"},
                page=item_page).status_code == 303
    assert "1 提 = 8 罐" in client.get(item_page).get_data(as_text=True)
    assert post(client, f"{item_page}/packs/{pack_id}/remove", {}, page=item_page).status_code == 303
    with session_factory() as s:
        assert s.get(ItemUnit, pack_id) is None
        actions = s.scalars(select(AuditEntry.action).where(AuditEntry.org_id == demo.org_id,
                                                            AuditEntry.action.like("pack.%"))).all()
    assert sorted(actions) == ["pack.created", "pack.removed", "pack.updated"]
    log = client.get("/console/settings/audit?action=pack.").get_data(as_text=True)
    assert "新增包装" in log and "删除包装" in log and "包装的全部修改" in log


def test_routes_are_declared_and_deactivated_on_the_sites_page(console_as, demo, session_factory):
    client = console_as("钱总监")
    response = post(client, "/console/settings/routes", {
        "from_site_id": demo.sites["SX"], "to_site_id": demo.sites["ZC"], "transit_hours": "6"},
        page="/console/settings")
    assert response.status_code == 303
    html = client.get("/console/settings").get_data(as_text=True)
    assert "调拨路线" in html and "6 小时" in html
    with session_factory() as s:
        route = s.scalars(select(Site).where(Site.org_id == demo.org_id, Site.route_from_id == demo.sites["SX"],
                                             Site.route_to_id == demo.sites["ZC"])).one()
    assert post(client, f"/console/settings/routes/{route.id}", {"transit_hours": "8"},
                page="/console/settings").status_code == 303
    with session_factory() as s:
        saved = s.get_one(Site, route.id)
        assert (saved.transit_hours, saved.active) == (8, False)
    same = post(client, "/console/settings/routes", {
        "from_site_id": demo.sites["SX"], "to_site_id": demo.sites["SX"]}, page="/console/settings")
    assert same.status_code == 303 and "不能是同一个地点" in client.get(same.headers["Location"]).get_data(as_text=True)


def test_a_sites_offline_policy_is_shown_and_edited_on_the_sites_page(console_as, demo, session_factory, engine):
    client = console_as("钱总监")
    sx = demo.sites["SX"]
    html = client.get("/console/settings").get_data(as_text=True)
    assert "离线策略（默认）" in html and 'name="offline_ship"' in html
    response = post(client, f"/console/settings/sites/{sx}/policy", {
        "offline_receive": "1", "offline_ship": "1", "ship_credit_per_day": "1200",
        "warn_after_hours": "12", "refuse_money_after_hours": "36", "reason": "山里"}, page="/console/settings")
    assert response.status_code == 303
    assert "离线策略已保存" in client.get(response.headers["Location"]).get_data(as_text=True)
    with session_factory() as s:
        policy = s.get_one(SitePolicy, sx)
        assert (policy.offline_kinds, policy.ship_credit_per_day, policy.warn_after_hours,
                policy.refuse_money_after_hours) == ("receive,ship", Decimal(1200), 12, 36)
        assert s.scalars(select(AuditEntry.reason).where(
            AuditEntry.org_id == demo.org_id, AuditEntry.action == "site.policy_updated")).one() == "山里"
    html = client.get("/console/settings").get_data(as_text=True)
    assert f'id="site-{sx}-warn" name="warn_after_hours" type="number" min="1" max="720" required value="12"' in html
    before = rows(engine)
    bad = post(client, f"/console/settings/sites/{sx}/policy", {
        "warn_after_hours": "50", "refuse_money_after_hours": "36"}, page="/console/settings")
    assert bad.status_code in (303, 422)
    assert rows(engine) == before
    manager = console_as("赵经理")
    assert "离线策略" not in manager.get("/console/settings").get_data(as_text=True)
    assert post(manager, f"/console/settings/sites/{sx}/policy", {
        "warn_after_hours": "5", "refuse_money_after_hours": "6"}, page="/console/settings").status_code == 403
    assert rows(engine) == before
