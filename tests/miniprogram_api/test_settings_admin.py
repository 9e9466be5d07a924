"""The settings API answers the same facts as the console page, through the same operations."""

from __future__ import annotations

import io
from decimal import Decimal

from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client  # noqa: F401
from tests.operations.test_settings_admin import ITEM_HEAD, workbook
from tests.security.conftest import rows


def test_add_an_item_and_a_farmer_member_then_list_them(client, as_, demo):
    manager = as_("赵经理")
    made = client.post("/api/v1/settings/items", json={
        "code": "BC", "name": "白茶", "base_unit": "公斤", "grades": [{"name": "特级", "purchase_price": "200"}]},
        headers={**manager, "Idempotency-Key": "item-bc-1"})
    assert made.status_code == 201, made.get_data(as_text=True)
    again = client.post("/api/v1/settings/items", json={
        "code": "BC", "name": "白茶", "base_unit": "公斤", "grades": [{"name": "特级", "purchase_price": "200"}]},
        headers={**manager, "Idempotency-Key": "item-bc-1"})
    assert again.get_json() == made.get_json()  # replayed, not added twice
    listed = client.get("/api/v1/settings/items?q=白茶", headers=manager).get_json()
    assert [(r["code"], r["grades"][0]["purchase_price"]) for r in listed["rows"]] == [("BC", "200")]
    party = client.post("/api/v1/settings/parties", json={"code": "F050", "name": "新农户", "kind": "farmer"},
                        headers=manager).get_json()["id"]
    member = client.post("/api/v1/settings/members", json={
        "name": "新农户", "party_id": party, "roles": [{"role": "farmer"}]}, headers=manager)
    assert member.status_code == 201, member.get_data(as_text=True)
    code = client.post(f"/api/v1/members/{member.get_json()['id']}/binding-codes", json={}, headers=manager)
    assert code.status_code == 200 and len(code.get_json()["code"].replace(" ", "")) == 12
    audit = client.get("/api/v1/settings/audit?action=member.", headers=manager).get_json()
    assert {"member.created", "member.binding_code_issued"} <= {r["action"] for r in audit["rows"]}


def test_import_reports_each_bad_row_and_writes_nothing(client, as_, demo, engine):
    before = rows(engine)
    content = workbook(ITEM_HEAD, ["A1", "甲", "公斤"], ["A2", "", "公斤"], ["A1", "乙", "公斤"])
    response = client.post("/api/v1/settings/imports/items", data={"file": (io.BytesIO(content), "a.xlsx")},
                           headers=as_("赵经理"), content_type="multipart/form-data")
    assert response.status_code == 422, response.get_data(as_text=True)
    errors = response.get_json()["error"]["details"]["report"]["errors"]
    assert [(e["row"], e["column"]) for e in errors] == [(3, "名称"), (4, "编码")]
    assert rows(engine) == before


def test_opening_stock_imports_through_the_same_route(client, as_, demo, engine):
    head = ["站点编码", "商品编码", "数量", "单位", "批次号", "等级", "单位成本"]
    bad = workbook(head, ["ZC", "CQ", 5, None, None, None, 80], ["ZC", "CQ", 5, "桶", None, None, 80])
    before = rows(engine)
    refused = client.post("/api/v1/settings/imports/opening_stock", data={"file": (io.BytesIO(bad), "a.xlsx")},
                          headers=as_("赵经理"), content_type="multipart/form-data")
    assert refused.status_code == 422, refused.get_data(as_text=True)
    errors = refused.get_json()["error"]["details"]["report"]["errors"]
    assert [(e["row"], e["column"]) for e in errors] == [(3, "单位")]
    assert rows(engine) == before
    clerk = client.post("/api/v1/settings/imports/opening_stock", headers=as_("小周"),
                        data={"file": (io.BytesIO(workbook(head, ["SX", "CQ", 5, None, None, None, 80])), "a.xlsx")},
                        content_type="multipart/form-data")
    assert clerk.status_code == 403 and rows(engine) == before
    good = workbook(head, ["ZC", "CQ", 5, None, None, None, 80])
    done = client.post("/api/v1/settings/imports/opening_stock", data={"file": (io.BytesIO(good), "a.xlsx")},
                       headers=as_("赵经理"), content_type="multipart/form-data")
    assert done.status_code == 201, done.get_data(as_text=True)
    assert (done.get_json()["rows_valid"], done.get_json()["written"]) == (1, True)


def test_a_sites_offline_policy_is_read_and_set_beside_the_site(client, as_, demo, engine):
    director, sx = as_("钱总监"), demo.sites["SX"]
    url = f"/api/v1/settings/sites/{sx}/policy"
    first = client.get(url, headers=director).get_json()
    assert first == {"site_id": sx, "offline_kinds": ["receive", "count", "freeze", "transfer_out"],
                     "ship_credit_per_day": None, "warn_after_hours": 24, "refuse_money_after_hours": 72,
                     "default": True}
    body = {"offline_kinds": ["ship", "receive"], "ship_credit_per_day": "800", "warn_after_hours": 6,
            "refuse_money_after_hours": 30, "reason": "断网多"}
    saved = client.put(url, json=body, headers={**director, "Idempotency-Key": "policy-sx-1"})
    assert saved.status_code == 200, saved.get_data(as_text=True)
    assert "offline_kinds" in saved.get_json()["changed"]
    now = client.get(url, headers=director).get_json()
    assert (now["offline_kinds"], Decimal(now["ship_credit_per_day"]), now["default"]) == (
        ["receive", "ship"], Decimal(800), False)
    before = rows(engine)
    bad = client.put(url, json={**body, "warn_after_hours": 40}, headers=director)
    assert bad.status_code == 422 and bad.get_json()["error"]["details"]["field"] == "warn_after_hours"
    manager = client.put(url, json=body, headers=as_("赵经理"))
    assert manager.status_code == 403 and client.get(url, headers=as_("赵经理")).status_code == 403
    assert rows(engine) == before


def test_a_grade_is_added_to_an_item_once_and_only_by_whoever_sets_prices(client, as_, demo, engine):
    from tests.security.conftest import assert_refused

    leaf = demo.items["茶青"]
    manager = {**as_("赵经理"), "Idempotency-Key": "grade-3-1"}
    made = client.post(f"/api/v1/settings/items/{leaf}/grades", json={"name": "三级", "purchase_price": "30"},
                       headers=manager)
    assert made.status_code == 201, made.get_data(as_text=True)
    again = client.post(f"/api/v1/settings/items/{leaf}/grades", json={"name": "三级", "purchase_price": "30"},
                        headers=manager)
    assert again.get_json() == made.get_json()  # replayed, not added twice
    listed = client.get("/api/v1/settings/items?q=茶青", headers=as_("赵经理")).get_json()["rows"][0]
    assert ("三级", "30") in [(g["name"], g["purchase_price"]) for g in listed["grades"]]
    before = rows(engine)
    assert_refused(client.post(f"/api/v1/settings/items/{leaf}/grades", json={"name": "四级", "purchase_price": "20"},
                               headers=as_("小周")), 403, "PERMISSION_DENIED")
    assert_refused(client.post(f"/api/v1/settings/items/{leaf}/grades", json={"name": "三级", "purchase_price": "31"},
                               headers=as_("赵经理")), 422, "VALIDATION_ERROR", "已有等级")
    other = client.post("/api/v1/settings/items/999999999/grades", json={"name": "四级", "purchase_price": "20"},
                        headers=as_("赵经理"))
    assert other.status_code == 404
    assert rows(engine) == before
