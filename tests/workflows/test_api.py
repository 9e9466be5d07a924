"""The workflows HTTP API: rules CRUD with validation and versions, sandbox, chains, webhooks, health, metrics."""

from __future__ import annotations

from decimal import Decimal

import pytest
from flask import Flask

import workflows.handlers  # noqa: F401  (register relay handlers)
from app.factory import create_app
from miniprogram_api.auth import issue_token
from models.operations import ReceiveGoods, receive_goods
from models.operations.approvals import choose_steps
from models.uow import run
from models.webhooks import WebhookSubscription
from workflows.relay import relay_pending


@pytest.fixture
def app(database_url, tmp_path) -> Flask:
    """The real app (its error handler, read sessions and blueprints); the relay is drained by hand."""
    app = create_app({"DATABASE_URL": database_url, "MEDIA_ROOT": str(tmp_path / "media"), "VOSK_MODEL_PATH": "",
                      "WECHAT_MINIPROGRAM_APP_ID": "", "LIUZHUAN_VAR_DIR": str(tmp_path),
                      "LIUZHUAN_RELAY_KICK": "0"})
    app.config["TESTING"] = True
    return app


def _auth(app, demo, name):
    with app.app_context():
        return {"Authorization": f"Bearer {issue_token(demo.members[name], demo.org_id)}"}


def test_rules_crud_validation_versions_and_sandbox(app, session_factory, demo, actors):
    client, director = app.test_client(), _auth(app, demo, "钱总监")
    rule = {"code": "cold-leaf", "name": "鲜叶入库提醒", "trigger": "receipt.posted",
            "condition": {">=": [{"var": "event.quantity"}, 10]},
            "actions": [{"type": "notify", "role": "manager", "text": "{number} 到货 {quantity}"}]}
    assert client.post("/api/v1/workflows/rules", json=rule).status_code == 401
    clerk = client.post("/api/v1/workflows/rules", json=rule, headers=_auth(app, demo, "小周"))
    assert clerk.status_code == 403
    bad = client.post("/api/v1/workflows/rules", json={**rule, "condition": {"eval": "1"}}, headers=director)
    assert bad.status_code == 422 and bad.get_json()["error"]["details"]["field"] == "condition"
    created = client.post("/api/v1/workflows/rules", json=rule, headers=director)
    assert created.status_code == 201 and created.get_json()["version"] == 1
    rule_id = created.get_json()["id"]
    updated = client.put(f"/api/v1/workflows/rules/{rule_id}", headers=director,
                         json={**rule, "condition": {">=": [{"var": "event.quantity"}, 20]}, "reason": "提高门槛"})
    assert updated.get_json()["version"] == 2
    assert client.post(f"/api/v1/workflows/rules/{rule_id}/disable", headers=director).get_json()["enabled"] is False
    versions = client.get(f"/api/v1/workflows/rules/{rule_id}/versions", headers=director).get_json()
    assert [v["version"] for v in versions] == [1, 2, 3]

    for qty in (12, 25):
        run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
            site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal(qty), unit="公斤",
            party_id=demo.parties["王阿姨"], grade_id=demo.grades["二级"]))
    result = client.post("/api/v1/workflows/rules/sandbox", headers=director, json={**rule, "days": 3}).get_json()
    assert result["events_seen"] == 2 and result["would_fire"] == 2
    assert result["hits"][0]["actions"][0].startswith("通知 主管：RK-SX-")


def test_chains_and_webhooks_api(app, session_factory, demo):
    client, director = app.test_client(), _auth(app, demo, "钱总监")
    bad = client.post("/api/v1/workflows/chains", headers=director,
                      json={"doc_kind": "transfer", "name": "x", "steps": [{"role": "boss"}]})
    assert bad.status_code == 422
    ok = client.post("/api/v1/workflows/chains", headers=director, json={
        "doc_kind": "transfer", "name": "大额调拨", "min_value": "100",
        "steps": [{"role": "manager", "timeout_hours": 4}, {"role": "director", "timeout_hours": 48}]})
    assert ok.status_code == 201
    with session_factory() as session:
        assert [s["role"] for s in choose_steps(session, demo.org_id, "transfer", Decimal(150))[1]] == [
            "manager", "director"]
        assert [s["role"] for s in choose_steps(session, demo.org_id, "transfer", Decimal(50))[1]] == ["manager"]
    hook = client.post("/api/v1/workflows/webhooks", headers=director,
                       json={"url": "https://93.184.216.34/hook", "kinds": ["receipt.posted"]})
    assert hook.status_code == 201 and len(hook.get_json()["secret"]) > 20
    assert client.get(f"/api/v1/workflows/webhooks/{hook.get_json()['id']}/deliveries",
                      headers=director).get_json() == []
    assert client.post("/api/v1/workflows/webhooks", headers=director,
                       json={"url": "ftp://x", "kinds": ["receipt.posted"]}).status_code == 422
    with session_factory.begin() as session:  # a real public address: never left live for later drains
        session.get_one(WebhookSubscription, hook.get_json()["id"]).active = False


def test_event_health_json_and_prometheus(app, session_factory, demo, actors):
    run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal(3), unit="公斤",
        party_id=demo.parties["王阿姨"], grade_id=demo.grades["二级"]))
    while relay_pending(session_factory, limit=10_000):
        pass
    client = app.test_client()
    health = client.get("/api/v1/workflows/health", headers=_auth(app, demo, "赵经理")).get_json()
    assert health["handled"] > 0 and health["latency_p95_ms"] is not None and health["dead_letters"] == 0
    assert health["checks"] == {"ledger_matches_balances": 0, "no_forbidden_negatives": 0, "vouchers_balance": 0,
                                "posted_documents_have_vouchers": 0, "farmer_payables_current": 0}
    assert health["check_pass_rate"] == 1.0
    text = client.get("/metrics").get_data(as_text=True)
    assert '# TYPE liuzhuan_event_latency_ms gauge' in text
    assert 'liuzhuan_event_latency_ms{stat="p95"}' in text
    assert 'liuzhuan_consistency_problems{check="vouchers_balance"}' in text
    assert "liuzhuan_dead_letters " in text
