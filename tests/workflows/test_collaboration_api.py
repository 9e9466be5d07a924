"""The 协同 facts over HTTP (workflows_api.collaboration): the same queries and operations as the console."""

from __future__ import annotations

from decimal import Decimal

import pytest

from models import netguard
from models.operations.approval_chains import SaveChain, save_chain
from models.operations.approvals import ChainSpec
from models.operations.devices import RegisterDevice, register_device
from models.operations.webhooks import SubscribeWebhook, subscribe_webhook
from models.uow import run
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client  # noqa: F401
from tests.security.conftest import assert_refused, rows

BASE = "/api/v1/workflows"


@pytest.fixture
def public_dns(monkeypatch):
    monkeypatch.setattr(netguard, "resolve", lambda host, port: ["93.184.216.34"])


def test_webhooks_listed_without_secrets_and_paused(client, as_, session_factory, actors, public_dns, engine):
    sub = run(session_factory, subscribe_webhook, actors["钱总监"],
              SubscribeWebhook("https://erp.example.com/", ("*",)))
    listed = client.get(f"{BASE}/webhooks", headers=as_("赵经理")).get_json()
    assert [(w["id"], w["active"]) for w in listed] == [(sub.subscription_id, True)]
    assert "secret" not in listed[0] and sub.secret not in str(listed)
    before = rows(engine)
    assert_refused(client.post(f"{BASE}/webhooks/{sub.subscription_id}/disable", headers=as_("赵经理")), 403,
                   "PERMISSION_DENIED")
    assert rows(engine) == before
    paused = client.post(f"{BASE}/webhooks/{sub.subscription_id}/disable", headers=as_("钱总监"))
    assert paused.status_code == 200 and paused.get_json()["active"] is False
    assert_refused(client.post(f"{BASE}/webhooks/999999/disable", headers=as_("钱总监")), 404, "NOT_FOUND")


def test_devices_series_and_thresholds(client, as_, session_factory, demo, actors, engine):
    run(session_factory, register_device, actors["钱总监"], RegisterDevice("T-01", "sensor", demo.sites["ZC"]))
    devices = client.get(f"{BASE}/devices", headers=as_("赵经理")).get_json()
    assert [(d["code"], d["stale"], d["expected_minutes"]) for d in devices] == [("T-01", False, 60)]
    assert client.get(f"{BASE}/devices?after={devices[0]['id']}", headers=as_("赵经理")).get_json() == []
    assert_refused(client.get(f"{BASE}/devices", headers=as_("小周")), 403, "PERMISSION_DENIED")
    series = client.get(f"{BASE}/health/series?span=14d", headers=as_("赵经理")).get_json()
    assert len(series["buckets"]) == 14 and series["thresholds"]["latency_p95_ms"] == "5000"
    assert client.get(f"{BASE}/health/series?span=forever", headers=as_("赵经理")).status_code == 422
    before = rows(engine)
    absurd = client.put(f"{BASE}/health/thresholds", headers=as_("钱总监"),
                        json={"latency_p95_ms": "5000", "retry_rate": "7", "check_pass_rate": "1"})
    assert_refused(absurd, 422, "VALIDATION_ERROR", "重试率")
    assert rows(engine) == before
    ok = client.put(f"{BASE}/health/thresholds", headers=as_("钱总监"),
                    json={"latency_p95_ms": "800", "retry_rate": "0.1", "check_pass_rate": "0.95"})
    assert ok.status_code == 200 and ok.get_json()["latency_p95_ms"] == "800"
    again = client.get(f"{BASE}/health/series", headers=as_("赵经理")).get_json()
    assert again["thresholds"] == {"latency_p95_ms": "800", "retry_rate": "0.1", "check_pass_rate": "0.95"}


def test_chains_edited_and_retired(client, as_, session_factory, actors):
    saved = run(session_factory, save_chain, actors["钱总监"], SaveChain(ChainSpec(
        "transfer", "调拨", ({"role": "manager", "timeout_hours": 4},), Decimal(0))))
    body = {"doc_kind": "transfer", "name": "调拨两级", "min_value": "10",
            "steps": [{"role": "manager", "timeout_hours": 4}, {"role": "director", "timeout_hours": 8}]}
    changed = client.put(f"{BASE}/chains/{saved.chain_id}", headers=as_("钱总监"), json=body)
    assert changed.status_code == 200, changed.get_json()
    chains = client.get(f"{BASE}/chains", headers=as_("钱总监")).get_json()
    assert [(c["name"], len(c["steps"])) for c in chains] == [("调拨两级", 2)]
    assert client.post(f"{BASE}/chains/{saved.chain_id}/disable", headers=as_("钱总监")).get_json()["active"] is False
    assert_refused(client.put(f"{BASE}/chains/{saved.chain_id}", headers=as_("赵经理"), json=body), 403,
                   "PERMISSION_DENIED")
    assert client.get(f"{BASE}/rules/fired", headers=as_("赵经理")).get_json() == {}
