"""Attacks on 设置 and 导入导出 (console and its API): each refused, nothing written."""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Callable
from decimal import Decimal

import openpyxl
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from models.catalog import Grade, ItemUnit, Unit
from models.demo import DemoOrg, seed_demo
from models.operations.identity import BindIdentity, BindingCodeInvalid, BindingLocked, bind_with_code
from models.org import IdentityProvider, Party
from tests.console.conftest import csrf_of, post, sign_in
from tests.operations.test_settings_admin import ITEM_HEAD, workbook
from tests.security.conftest import assert_refused, rows


@pytest.fixture(name="console_as")
def fx_console_as(app: Flask, demo: DemoOrg) -> Callable[[str], FlaskClient]:
    """The console's signed-in client, on the same app as the API's ``client``."""
    def make(name: str) -> FlaskClient:
        client = app.test_client()
        sign_in(client, demo, name)
        return client
    return make


def test_clerk_cannot_change_prices(console_as, demo, engine, client, as_):
    before = rows(engine)
    clerk = console_as("小周")
    response = post(clerk, f"/console/settings/grades/{demo.grades['特级']}/price",
                    {"purchase_price": "999", "reason": "x"})
    assert response.status_code == 403
    assert_refused(client.put(f"/api/v1/settings/grades/{demo.grades['特级']}/price",
                              json={"purchase_price": "999", "reason": "x"}, headers=as_("小周")),
                   403, "PERMISSION_DENIED")
    assert rows(engine) == before


def test_manager_cannot_grant_director(demo, engine, client, as_):
    before = rows(engine)
    assert_refused(client.post("/api/v1/settings/members", json={"name": "冒充", "roles": [{"role": "director"}]},
                               headers=as_("赵经理")), 403, "PERMISSION_DENIED")
    assert_refused(client.post(f"/api/v1/settings/members/{demo.members['小周']}/roles",
                               json={"role": "director"}, headers=as_("赵经理")), 403, "PERMISSION_DENIED")
    assert rows(engine) == before


def test_another_orgs_member_and_item_ids_are_not_found(demo, engine, session_factory, client, as_, console_as):
    with session_factory.begin() as s:
        other = seed_demo(s, code="OTHER2", name="别家")
    before = rows(engine)
    director = as_("钱总监")
    assert_refused(client.put(f"/api/v1/settings/members/{other.members['小周']}", json={"name": "x"},
                              headers=director), 404, "NOT_FOUND")
    assert_refused(client.post(f"/api/v1/settings/members/{other.members['小周']}/roles", json={"role": "clerk"},
                               headers=director), 404, "NOT_FOUND")
    assert_refused(client.put(f"/api/v1/settings/grades/{other.grades['特级']}/price",
                              json={"purchase_price": "1", "reason": "x"}, headers=director), 404, "NOT_FOUND")
    console = console_as("钱总监")
    response = post(console, f"/console/settings/grades/{other.grades['特级']}/price",
                    {"purchase_price": "1", "reason": "x"})
    assert response.status_code == 303
    assert "找不到等级" in console.get("/console/settings").get_data(as_text=True)
    response = post(console, f"/console/settings/members/{other.members['小周']}/binding-code")
    assert response.status_code == 303
    assert rows(engine) == before
    with session_factory() as s:
        assert s.get_one(Grade, other.grades["特级"]).purchase_price == 120


def test_missing_csrf_is_refused(console_as, demo, engine):
    before = rows(engine)
    client = console_as("钱总监")
    response = client.post(f"/console/settings/grades/{demo.grades['特级']}/price",
                           data={"purchase_price": "1", "reason": "x"})
    assert response.status_code == 400 and "页面已过期" in response.get_data(as_text=True)
    assert rows(engine) == before


def test_replayed_create_adds_one_party(console_as, demo, engine, session_factory):
    client = console_as("赵经理")
    html = client.get("/console/settings/parties").get_data(as_text=True)
    request_id = html.split('name="request_id" value="')[1].split('"')[0]
    data = {"kind": "farmer", "code": "F077", "name": "重复提交", "request_id": request_id}
    assert post(client, "/console/settings/parties", data).status_code == 303
    assert post(client, "/console/settings/parties", data).status_code == 303
    with session_factory() as s:
        assert len(s.scalars(select(Party).where(Party.org_id == demo.org_id, Party.code == "F077")).all()) == 1


def test_absurd_numbers_are_refused(console_as, demo, engine, client, as_):
    before = rows(engine)
    console = console_as("钱总监")
    for value in ("1e30", "-5", "99999999999999999", "NaN", "１２"):
        post(console, f"/console/settings/grades/{demo.grades['特级']}/price", {"purchase_price": value, "reason": "x"})
    for body in ({"name": "x", "prepayment_ratio": "7"}, {"name": "x", "prepayment_ratio": "0.5",
                                                            "settings": {"binding_code_minutes": "1e9"}}):
        response = client.put("/api/v1/settings/org", json=body, headers=as_("钱总监"))
        assert response.status_code == 422, response.get_data(as_text=True)
    assert rows(engine) == before


def _upload(client, content: bytes, kind: str = "items"):
    return client.post(f"/console/imports/{kind}", data={"csrf_token": csrf_of(client, "/console/imports"),
                                                          "file": (io.BytesIO(content), "x.xlsx")},
                       content_type="multipart/form-data")


def test_formula_in_a_cell_stays_text_in_the_export(console_as, demo, session_factory):
    client = console_as("赵经理")
    response = _upload(client, workbook(["编码", "名称", "类型"], ["C900", '=HYPERLINK("http://evil","点我")', "客户"]),
                       "parties")
    assert response.status_code == 200, response.get_data(as_text=True)
    exported = client.get("/console/settings/export/parties.xlsx").data
    sheet = openpyxl.load_workbook(io.BytesIO(exported)).worksheets[0]
    cells = [c for row in sheet.iter_rows() for c in row if isinstance(c.value, str) and "HYPERLINK" in c.value]
    assert cells and all(c.data_type == "s" for c in cells)


def test_zip_bomb_and_huge_sheets_are_refused(console_as, demo, engine):
    client = console_as("赵经理")
    before = rows(engine)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<x/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"0" * (60 * 1024 * 1024))  # 60 MB of zeros, ~60 KB zipped
    response = _upload(client, bomb.getvalue())
    assert response.status_code == 200 and "解压后过大" in response.get_data(as_text=True)
    huge = workbook(ITEM_HEAD, *([f"X{n}", "x", "公斤"] for n in range(5_002)))
    response = _upload(client, huge)
    assert response.status_code == 200 and "一次最多导入 5000 行" in response.get_data(as_text=True)
    response = _upload(client, b"A" * (5 * 1024 * 1024 + 10))
    assert response.status_code == 200 and "不能超过 5MB" in response.get_data(as_text=True)
    response = _upload(client, b"not a workbook")
    assert response.status_code == 200 and ".xlsx" in response.get_data(as_text=True)
    assert rows(engine) == before


def test_binding_codes_from_the_console_are_still_throttled(console_as, demo, session_factory):
    """Issuing codes from the console changes nothing about guessing them: wrong codes lock out."""
    client = console_as("赵经理")
    shown = post(client, f"/console/settings/members/{demo.members['王阿姨']}/binding-code")
    assert shown.status_code == 200
    code = shown.get_data(as_text=True).split('<p class="code" aria-label="绑定码">')[1].split("<")[0]
    refusals = []
    for n in range(6):
        try:
            bind_with_code(session_factory, BindIdentity(IdentityProvider.WECHAT_OPENID, "guesser",
                                                         f"0000 0000 000{n}"))
        except (BindingCodeInvalid, BindingLocked) as exc:
            refusals.append(type(exc).__name__)
    assert refusals[-1] == "BindingLocked"
    try:  # locked out: even the right code is refused now
        bind_with_code(session_factory, BindIdentity(IdentityProvider.WECHAT_OPENID, "guesser", code))
        raise AssertionError("bound while locked out")
    except BindingLocked:
        pass


@pytest.mark.parametrize("member", ["赵经理", "钱总监", "王阿姨"])
def test_settings_api_fuzzed_no_5xx_and_conforming(member, app, demo, as_):
    from tests.fuzzing import fuzz_spec
    seen, failures = fuzz_spec(app, as_(member), 6, include=lambda path: path.startswith("/api/v1/settings"))
    assert not failures, "\n\n".join(f"{op}\n{msg}" for op, msg in failures.items())
    assert len(seen) >= 17


OPENING_HEAD = ["站点编码", "商品编码", "数量", "单位成本"]


def test_clerk_and_storekeeper_cannot_post_opening_stock(console_as, demo, engine, client, as_):
    """Opening stock puts value on the books: it needs the price permission, not just receiving."""
    from models.documents import DocKind, Document

    before = rows(engine)
    sheet = workbook(OPENING_HEAD, ["ZC", "CQ", 100, 50])
    for name in ("小周", "老孙"):
        html = _upload(console_as(name), sheet, "opening_stock").get_data(as_text=True)
        assert "期初库存导入未完成" in html and "PERMISSION_DENIED" in html
        assert_refused(client.post("/api/v1/settings/imports/opening_stock", headers=as_(name),
                                   data={"file": (io.BytesIO(sheet), "x.xlsx")}, content_type="multipart/form-data"),
                       403, "PERMISSION_DENIED")
    assert rows(engine) == before
    with engine.connect() as conn:
        assert conn.scalar(select(Document.id).where(Document.kind == DocKind.OPENING,
                                                     Document.org_id == demo.org_id)) is None


def test_another_org_cannot_post_opening_stock_at_our_site(session_factory, demo, engine):
    """By id, our site is not found for them; by code, their sheet's ZC is their own 总仓, never ours."""
    from models.actor import load_actor
    from models.errors import NotFound
    from models.operations.masterdata_import import ImportKind, ImportMasterData, import_master_data
    from models.operations.opening_stock import OpeningLine, PostOpeningStock, post_opening_stock
    from models.stock import Balance
    from models.uow import run

    other = run(session_factory, seed_demo, f"o-{uuid.uuid4().hex[:12]}", "外社")
    with session_factory() as s:
        boss = load_actor(s, other.members["钱总监"])
    before = rows(engine)
    with pytest.raises(NotFound):
        run(session_factory, post_opening_stock, boss, PostOpeningStock(
            demo.sites["ZC"], (OpeningLine(other.items["茶青"], Decimal(5), Decimal(80)),)))
    with pytest.raises(NotFound):
        run(session_factory, post_opening_stock, boss, PostOpeningStock(
            other.sites["ZC"], (OpeningLine(demo.items["茶青"], Decimal(5), Decimal(80)),)))
    assert rows(engine) == before
    run(session_factory, import_master_data, boss, ImportMasterData(
        ImportKind.OPENING_STOCK, workbook(OPENING_HEAD, ["ZC", "CQ", 5, 80])))
    with session_factory() as s:
        assert s.scalar(select(Balance.id).where(Balance.site_id == demo.sites["ZC"],
                                                 Balance.org_id == other.org_id)) is None
        assert s.scalar(select(Balance.on_hand).where(Balance.site_id == other.sites["ZC"])) == Decimal(5)


@pytest.mark.parametrize("price", ["-1", "1e400", "NaN", "10000001", "0.0000001"])
def test_a_new_grade_with_an_absurd_price_is_refused(demo, engine, client, as_, price):
    before = rows(engine)
    response = client.post(f"/api/v1/settings/items/{demo.items['茶青']}/grades",
                           json={"name": "三级", "purchase_price": price}, headers=as_("赵经理"))
    assert response.status_code in (400, 422)
    assert rows(engine) == before


def test_another_org_cannot_add_a_grade_to_our_item(session_factory, demo, engine):
    from models.actor import load_actor
    from models.errors import NotFound
    from models.operations.masterdata import AddGrade, add_grade
    from models.uow import run

    other = run(session_factory, seed_demo, f"g-{uuid.uuid4().hex[:12]}", "外社")
    with session_factory() as s:
        boss = load_actor(s, other.members["钱总监"])
    before = rows(engine)
    with pytest.raises(NotFound):
        run(session_factory, add_grade, boss, AddGrade(demo.items["茶青"], "三级", Decimal(30)))
    assert rows(engine) == before
    with session_factory() as s:
        assert s.scalar(select(Grade.id).where(Grade.item_id == demo.items["茶青"], Grade.name == "三级")) is None


# --- units, packs and routes -------------------------------------------------------------------------

def test_clerk_cannot_change_units_packs_or_routes(console_as, demo, engine, client, as_, session_factory):
    with session_factory() as s:
        pack_id = s.scalar(select(ItemUnit.id).where(ItemUnit.item_id == demo.items["龙井"]))
        unit_id = s.scalar(select(Unit.id).where(Unit.org_id == demo.org_id, Unit.name == "斤"))
    before = rows(engine)
    clerk = console_as("小周")
    jar = demo.items["龙井"]
    for path, data in (("/console/settings/units", {"name": "筐", "dimension": "mass", "factor": "20"}),
                       (f"/console/settings/units/{unit_id}", {"name": "x"}),
                       (f"/console/settings/items/{jar}/packs", {"name": "提", "factor": "6"}),
                       (f"/console/settings/items/{jar}/packs/{pack_id}", {"name": "箱", "factor": "1"}),
                       (f"/console/settings/items/{jar}/packs/{pack_id}/remove", {}),
                       ("/console/settings/routes",
                        {"from_site_id": demo.sites["SX"], "to_site_id": demo.sites["ZC"]})):
        assert post(clerk, path, data).status_code == 403, path
    headers = as_("小周")
    assert_refused(client.post("/api/v1/settings/units", json={"name": "筐", "factor": "20"}, headers=headers),
                   403, "PERMISSION_DENIED")
    assert_refused(client.post(f"/api/v1/settings/items/{jar}/packs", json={"name": "提", "factor": "6"},
                               headers=headers), 403, "PERMISSION_DENIED")
    assert_refused(client.post(f"/api/v1/settings/items/{jar}/packs/{pack_id}/remove", json={}, headers=headers),
                   403, "PERMISSION_DENIED")
    assert_refused(client.post("/api/v1/settings/routes", json={"from_site_id": demo.sites["SX"],
                                                                "to_site_id": demo.sites["ZC"]}, headers=headers),
                   403, "PERMISSION_DENIED")
    # 赵经理 may edit items (修改价格) but not routes (分配角色, like sites)
    assert_refused(client.post("/api/v1/settings/routes", json={"from_site_id": demo.sites["SX"],
                                                                "to_site_id": demo.sites["ZC"]},
                               headers=as_("赵经理")), 403, "PERMISSION_DENIED")
    assert rows(engine) == before


def test_another_orgs_units_packs_and_sites_are_not_found(demo, engine, session_factory, client, as_, console_as):
    with session_factory.begin() as s:
        other = seed_demo(s, code="OTHER3", name="别家")
        other_pack = s.scalar(select(ItemUnit.id).where(ItemUnit.item_id == other.items["龙井"]))
        other_unit = s.scalar(select(Unit.id).where(Unit.org_id == other.org_id, Unit.name == "斤"))
    before = rows(engine)
    director = as_("钱总监")
    jar = demo.items["龙井"]
    assert_refused(client.put(f"/api/v1/settings/units/{other_unit}", json={"name": "x"}, headers=director),
                   404, "NOT_FOUND")
    assert_refused(client.post(f"/api/v1/settings/items/{other.items['龙井']}/packs",
                               json={"name": "提", "factor": "6"}, headers=director), 404, "NOT_FOUND")
    assert_refused(client.put(f"/api/v1/settings/items/{jar}/packs/{other_pack}",
                              json={"name": "箱", "factor": "1"}, headers=director), 404, "NOT_FOUND")
    assert_refused(client.post(f"/api/v1/settings/items/{jar}/packs/{other_pack}/remove", json={},
                               headers=director), 404, "NOT_FOUND")
    assert_refused(client.post("/api/v1/settings/routes", json={"from_site_id": demo.sites["SX"],
                                                                "to_site_id": other.sites["ZC"]}, headers=director),
                   404, "NOT_FOUND")
    assert_refused(client.put(f"/api/v1/settings/routes/{other.sites['SX']}", json={"active": False},
                              headers=director), 404, "NOT_FOUND")
    console = console_as("钱总监")
    response = post(console, f"/console/settings/items/{jar}/packs/{other_pack}/remove", {})
    assert response.status_code == 303
    assert "找不到包装" in console.get(f"/console/settings/items/{jar}").get_data(as_text=True)
    assert rows(engine) == before
    with session_factory() as s:
        assert s.get(ItemUnit, other_pack) is not None


@pytest.mark.parametrize("factor", ["0", "-1", "abc", "1e400", "NaN"])
def test_bad_factors_are_refused_over_the_api(demo, engine, client, as_, factor):
    before = rows(engine)
    assert_refused(client.post("/api/v1/settings/units", json={"name": "筐", "factor": factor},
                               headers=as_("赵经理")), 422, "VALIDATION_ERROR", "换算系数")
    assert_refused(client.post(f"/api/v1/settings/items/{demo.items['龙井']}/packs",
                               json={"name": "提", "factor": factor}, headers=as_("赵经理")), 422, "VALIDATION_ERROR")
    assert rows(engine) == before


def test_api_adds_a_unit_a_pack_and_a_route_then_a_deactivated_route_refuses(demo, client, as_, session_factory):
    manager, director = as_("赵经理"), as_("钱总监")
    created = client.post("/api/v1/settings/units", json={"name": "筐", "factor": "20"}, headers=manager)
    assert created.status_code == 201, created.get_data(as_text=True)
    listed = client.get("/api/v1/settings/units", headers=manager).get_json()
    assert any(u["name"] == "筐" and u["factor"] in ("20", 20) for u in listed["rows"]), listed
    pack = client.post(f"/api/v1/settings/items/{demo.items['龙井']}/packs", json={"name": "提", "factor": "6"},
                       headers=manager)
    assert pack.status_code == 201, pack.get_data(as_text=True)
    route = client.post("/api/v1/settings/routes", json={"from_site_id": demo.sites["SX"],
                                                         "to_site_id": demo.sites["ZC"], "transit_hours": 6},
                        headers=director)
    assert route.status_code == 201, route.get_data(as_text=True)
    route_id = route.get_json()["id"]
    off = client.put(f"/api/v1/settings/routes/{route_id}", json={"transit_hours": 6, "active": False},
                     headers=director)
    assert off.status_code == 200 and off.get_json()["changed"] == ["active"]
    [row] = [r for r in client.get("/api/v1/settings/routes", headers=director).get_json()["rows"]
             if r["id"] == route_id]
    assert (row["from_code"], row["to_code"], row["transit_hours"], row["active"]) == ("SX", "ZC", 6, False)
    assert_refused(client.post("/api/v1/transfers", json={
        "from_site_id": demo.sites["SX"], "to_site_id": demo.sites["ZC"],
        "lines": [{"item_id": demo.items["茶青"], "quantity": "1"}]}, headers=as_("小周")), 409, "ROUTE_INACTIVE")


def test_an_id_beyond_bigint_is_not_found_not_a_crash(console_as, demo, engine, client, as_):
    """A form with no other field reaches the lookup with the path's id as is (found by the fuzzer)."""
    huge = 2**64
    before = rows(engine)
    console = console_as("钱总监")
    jar = demo.items["龙井"]
    response = post(console, f"/console/settings/items/{jar}/packs/{huge}/remove", {})
    assert response.status_code == 303
    assert "找不到包装" in console.get(response.headers["Location"]).get_data(as_text=True)
    assert_refused(client.post(f"/api/v1/settings/items/{jar}/packs/{huge}/remove", json={},
                               headers=as_("钱总监")), 422, "VALIDATION_ERROR")  # the API's id type bounds it
    assert rows(engine) == before
