"""The planning HTTP API: imports, history, promotions, covariates, forecasts, overrides, replenishment, sandbox."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from flask import Flask

from app.factory import create_app
from miniprogram_api.auth import issue_token
from tests.models.planning_fakes import at, fake_engine, monday, receive, weekly_history  # noqa: F401

pytestmark = pytest.mark.usefixtures("fake_engine")
API = "/api/v1/planning"


@pytest.fixture
def app(database_url, tmp_path) -> Flask:
    """The real app (its error handler, read sessions and blueprints), on the test database."""
    app = create_app({"DATABASE_URL": database_url, "MEDIA_ROOT": str(tmp_path / "media"), "VOSK_MODEL_PATH": "",
                      "WECHAT_MINIPROGRAM_APP_ID": "", "LIUZHUAN_VAR_DIR": str(tmp_path)})
    app.config["TESTING"] = True
    return app


def _auth(app, demo, name):
    with app.app_context():
        return {"Authorization": f"Bearer {issue_token(demo.members[name], demo.org_id)}"}


def _file(text: str, name: str = "demand.csv"):
    return (io.BytesIO(text.encode()), name)


def test_planner_happy_path(app, session_factory, demo, actors):
    client, h = app.test_client(), _auth(app, demo, "赵经理")
    weekly_history(session_factory, demo, actors, "MD", [5, 5, 5, 5], stock_first=21)
    receive(session_factory, demo, actors, "ZC", 50, at(monday(5)))
    older = [monday(k).isoformat() for k in (8, 7, 6)]
    csv_text = "商品编码,地点编码,周,数量\n" + "".join(f"LJ250,MD,{w},6\n" for w in older)

    dry = client.post(f"{API}/imports", headers=h, data={"file": _file(csv_text), "dry_run": "1"})
    assert dry.status_code == 200 and dry.get_json()["written"] is False and dry.get_json()["rows_valid"] == 3
    done = client.post(f"{API}/imports", headers=h, data={"file": _file(csv_text)})
    assert done.status_code == 201 and done.get_json()["written"] is True
    assert client.get(f"{API}/imports", headers=h).get_json()[0]["rows"] == 3

    history = client.get(f"{API}/demand", headers=h, query_string={
        "item_id": demo.items["龙井"], "site_id": demo.sites["MD"], "grain": "weekly"}).get_json()["series"]
    rows = {r["week"]: r for r in history[0]["rows"]}
    assert rows[older[0]]["sale"] == "6" and rows[monday(1).isoformat()]["censored"] is False
    daily = client.get(f"{API}/demand", headers=h, query_string={
        "item_id": demo.items["龙井"], "site_id": demo.sites["MD"], "grain": "daily",
        "start": monday(1).isoformat()}).get_json()["series"][0]["rows"]
    assert daily[0]["day"] == monday(1).isoformat() and daily[1]["sale"] == "5"

    next_week = monday(0) + timedelta(days=7)
    promo = client.post(f"{API}/promotions", headers=h, json={
        "item_id": demo.items["龙井"], "starts_on": next_week.isoformat(),
        "ends_on": (next_week + timedelta(days=6)).isoformat(), "uplift": "0.2", "note": "年货节"})
    assert promo.status_code == 201 and promo.get_json()["uplift"] == "0.2"
    assert len(client.get(f"{API}/promotions", headers=h).get_json()) == 1
    cov = client.post(f"{API}/covariates", headers=h, json={"name": "气温", "values": [
        {"date": monday(1).isoformat(), "value": "12.5"}, {"date": monday(0).isoformat(), "value": 9}]})
    assert cov.status_code == 201 and cov.get_json()["count"] == 2
    assert client.get(f"{API}/covariates", headers=h).get_json()[0]["name"] == "气温"

    started = client.post(f"{API}/forecasts", headers=h, json={"horizon": 3})
    assert started.status_code == 201 and started.get_json()["status"] == "completed"
    run_id = started.get_json()["run_id"]
    assert client.get(f"{API}/forecasts", headers=h).get_json()[0]["id"] == run_id
    lines = client.get(f"{API}/forecasts/{run_id}/lines", headers=h).get_json()["lines"]
    assert len(lines) == 3 and lines[0]["explanation"]["summary"] and lines[0]["method_label"]

    ov = client.post(f"{API}/overrides", headers=h, json={
        "item_id": demo.items["龙井"], "site_id": demo.sites["MD"], "from_week": monday(0).isoformat(),
        "weeks": 1, "set_value": "8", "reason": "团购订单"})
    assert ov.status_code == 201 and ov.get_json()["lines_changed"] == 1
    assert client.get(f"{API}/overrides", headers=h).get_json()[0]["reason"] == "团购订单"
    assert client.get(f"{API}/forecasts/{run_id}/lines", headers=h).get_json()["lines"][0]["final"] == "8"

    plan = client.post(f"{API}/replenishment/recompute", headers=h, json={}).get_json()
    transfer = next(s for s in plan["suggestions"] if s["kind"] == "transfer")
    listed = client.get(f"{API}/replenishment/suggestions", headers=h).get_json()
    assert {s["suggestion_id"] for s in listed} == {s["suggestion_id"] for s in plan["suggestions"]}
    assert client.get(f"{API}/replenishment/safety-stock", headers=h).get_json()[0]["run_id"] == run_id
    accepted = client.post(f"{API}/replenishment/suggestions/{transfer['suggestion_id']}/accept", headers=h,
                           json={}).get_json()
    assert accepted["status"] == "accepted" and accepted["document_id"]
    again = client.post(f"{API}/replenishment/suggestions/{transfer['suggestion_id']}/dismiss", headers=h, json={})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "INVALID_STATE"

    withdrawn = client.delete(f"{API}/overrides/{ov.get_json()['override_id']}", headers=h, json={"reason": "团购取消"})
    assert withdrawn.status_code == 200
    assert client.get(f"{API}/forecasts/{run_id}/lines", headers=h).get_json()["lines"][0]["override_id"] is None
    gone = client.delete(f"{API}/promotions/{promo.get_json()['promotion_id']}", headers=h, json={"reason": "取消"})
    assert gone.get_json()["active"] is False and client.get(f"{API}/promotions", headers=h).get_json() == []

    sandbox = client.post(f"{API}/sandbox", headers=h, json={"service_level": 0.99, "lead_time_weeks": 2})
    body = sandbox.get_json()
    assert sandbox.status_code == 200 and body["rows"][0]["sandbox"]["service_level"] == 0.99
    assert body["rows"][0]["delta"]["safety_stock"] > 0


def test_refusals_in_the_shared_error_shape(app, demo):
    client = app.test_client()
    assert client.get(f"{API}/forecasts").status_code == 401
    clerk = client.post(f"{API}/forecasts", headers=_auth(app, demo, "小周"), json={})
    assert clerk.status_code == 403 and clerk.get_json()["error"]["code"] == "PERMISSION_DENIED"
    assert client.get(f"{API}/forecasts", headers=_auth(app, demo, "小周")).status_code == 403
    h = _auth(app, demo, "赵经理")
    bad = client.post(f"{API}/imports", headers=h, data={
        "file": _file("商品编码,地点编码,周,数量\nNOPE,MD,2026-11-02,3\nLJ250,MD,2026-11-09,-1\n")})
    err = bad.get_json()["error"]
    assert bad.status_code == 422 and err["code"] == "IMPORT_REJECTED"
    assert {e["code"]: e["rows"] for e in err["details"]["report"]["errors"]} == {
        "UNKNOWN_ITEM": [2], "NEGATIVE_VALUE": [3]}
    missing = client.post(f"{API}/overrides", headers=h, json={"item_id": demo.items["龙井"]})
    assert missing.status_code == 422 and [f["field"] for f in missing.get_json()["error"]["details"]["fields"]] == [
        "site_id", "from_week"]
    no_reason = client.post(f"{API}/overrides", headers=h, json={
        "item_id": demo.items["龙井"], "site_id": demo.sites["MD"], "from_week": "2026-11-30", "scale": "-0.15"})
    assert no_reason.status_code == 422 and no_reason.get_json()["error"]["details"]["field"] == "reason"
    assert client.get(f"{API}/forecasts/999999/lines", headers=h).status_code == 404
    garbled = client.post(f"{API}/forecasts", headers=h, data="{horizon: 4", content_type="application/json")
    assert garbled.status_code == 422 and garbled.get_json()["error"]["code"] == "VALIDATION_ERROR"
    gone = client.post(f"{API}/replenishment/suggestions/999999/accept", headers=h, json={})
    assert gone.status_code == 404 and gone.get_json()["error"]["message"] == "找不到补货建议（编号 999999）"
    with app.app_context():
        from models.planning import ForecastRun

        factory = app.extensions["liuzhuan"]["session_factory"]
        with factory() as session:  # none of the refusals above started a run
            assert session.query(ForecastRun).filter(ForecastRun.org_id == demo.org_id).count() == 0


def test_a_rejected_dry_run_says_it_was_a_dry_run(app, session_factory, demo):
    from sqlalchemy import func, select

    from models.planning import DemandImport, DemandRow

    client, h = app.test_client(), _auth(app, demo, "赵经理")
    bad = "商品编码,地点编码,周,数量\nNOPE,MD,2026-01-05,3\n"
    resp = client.post(f"{API}/imports", headers=h, data={"file": _file(bad), "dry_run": "1"})
    assert resp.status_code == 422 and resp.get_json()["error"]["code"] == "IMPORT_REJECTED"
    assert "未写入任何数据" in resp.get_json()["error"]["message"]
    report = resp.get_json()["error"]["details"]["report"]
    assert report["dry_run"] is True and report["written"] is False
    assert [e["code"] for e in report["errors"]] == ["UNKNOWN_ITEM"]
    resp = client.post(f"{API}/imports", headers=h, data={"file": _file(bad)})
    assert resp.status_code == 422 and resp.get_json()["error"]["details"]["report"]["dry_run"] is False
    with session_factory() as session:
        for model in (DemandImport, DemandRow):
            assert session.scalar(select(func.count()).select_from(model).where(model.org_id == demo.org_id)) == 0


def test_accepting_a_purchase_through_the_api_refuses_another_orgs_supplier(app, session_factory, demo):
    import uuid

    from models.demo import seed_demo
    from models.planning import ReplenishmentSuggestion, SuggestionStatus
    from models.uow import run
    from tests.models.planning_fakes import supplierless_purchase

    other = run(session_factory, seed_demo, f"o-{uuid.uuid4().hex[:10]}")
    suggestion_id = supplierless_purchase(session_factory, demo)
    client, h = app.test_client(), _auth(app, demo, "赵经理")
    url = f"{API}/replenishment/suggestions/{suggestion_id}/accept"
    none = client.post(url, headers=h, json={})
    assert none.status_code == 422 and none.get_json()["error"]["code"] == "SUPPLIER_REQUIRED"
    for party_id in (other.parties["包装厂"], demo.parties["杭州茶城"]):
        theirs = client.post(url, headers=h, json={"party_id": party_id})
        assert theirs.status_code == 422 and theirs.get_json()["error"]["code"] == "NOT_A_SUPPLIER"
    with session_factory() as session:
        assert session.get(ReplenishmentSuggestion, suggestion_id).status == SuggestionStatus.PROPOSED
    ok = client.post(url, headers=h, json={"party_id": demo.parties["包装厂"]})
    assert ok.status_code == 200 and ok.get_json()["party_id"] == demo.parties["包装厂"]
