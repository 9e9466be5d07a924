"""Finding 5: a member reads only what their roles allow. The rules sandbox (which renders event payloads),
rules, chains, dead letters, webhook delivery logs and event health need Permission.RULES; the
emergency-transfer preview considers and shows only sites where the member may see stock."""

from __future__ import annotations

from decimal import Decimal

import pytest

from models.errors import PermissionDenied
from models.operations.rules import RuleSpec, create_rule
from models.operations.webhooks import SubscribeWebhook, subscribe_webhook
from models.queries.emergency_transfer import Need, suggest_emergency
from models.queries.event_health import org_event_health
from models.queries.workflow_config import (
    dead_letters,
    list_chains,
    list_rules,
    rule_sandbox,
    rule_versions,
    webhook_deliveries,
)
from models.uow import run
from models.webhooks import WebhookSubscription
from tests.miniprogram_api.fixtures_3b import receive
from tests.security.conftest import assert_refused, rows

DRAFT = RuleSpec("draft", "草稿", "receipt.posted", {},
                 ({"type": "notify", "role": "manager", "text": "{number} {amount} 元"},))
EMERGENCY_URL = "/api/v1/transfers/emergency"


@pytest.fixture
def config(session_factory, actors):
    """One rule and one webhook subscription, so the lists have something to leak."""
    rule = run(session_factory, create_rule, actors["钱总监"], RuleSpec(
        "seen", "已有规则", "receipt.posted", {}, ({"type": "notify", "role": "manager", "text": "x"},)))
    sub = run(session_factory, subscribe_webhook, actors["钱总监"],
              SubscribeWebhook("https://93.184.216.34/hook", ("receipt.posted",)))
    with session_factory() as session:  # a later drain must never POST to the internet
        session.get_one(WebhookSubscription, sub.subscription_id).active = False
        session.commit()
    return rule.id, sub.subscription_id


QUERIES = {
    "sandbox": lambda s, a, ids: rule_sandbox(s, a, DRAFT, days=7),
    "rules": lambda s, a, ids: list_rules(s, a),
    "versions": lambda s, a, ids: rule_versions(s, a, ids[0]),
    "chains": lambda s, a, ids: list_chains(s, a),
    "dead_letters": lambda s, a, ids: dead_letters(s, a),
    "deliveries": lambda s, a, ids: webhook_deliveries(s, a, ids[1]),
    "health": lambda s, a, ids: org_event_health(s, a, checks=False),
}


@pytest.mark.parametrize("who", ["王阿姨", "小周", "老孙", "吴会计"])
@pytest.mark.parametrize("query", sorted(QUERIES))
def test_members_without_the_rules_permission_read_none_of_it(session_factory, engine, demo, actors, config,
                                                              who, query):
    receive(session_factory, demo, actors, "3")  # an event whose payload the sandbox would render
    before = rows(engine)
    with session_factory() as session, pytest.raises(PermissionDenied, match="没有权限：查看规则与事件日志") as refused:
        QUERIES[query](session, actors[who], config)
    assert refused.value.code == "PERMISSION_DENIED" and refused.value.details["permission"] == "rules"
    assert rows(engine) == before


@pytest.mark.parametrize("method, path", [
    ("post", "/api/v1/workflows/rules/sandbox"), ("get", "/api/v1/workflows/rules"),
    ("get", "/api/v1/workflows/rules/{rule}/versions"), ("get", "/api/v1/workflows/chains"),
    ("get", "/api/v1/workflows/dead-letters"), ("get", "/api/v1/workflows/webhooks/{sub}/deliveries"),
    ("get", "/api/v1/workflows/health"),
])
def test_a_farmer_reads_none_of_it_over_http(client, as_, engine, session_factory, demo, actors, config, method,
                                             path):
    receive(session_factory, demo, actors, "3")
    url = path.format(rule=config[0], sub=config[1])
    body = {"trigger": "receipt.posted", "condition": {}, "actions": list(DRAFT.actions), "days": 7}
    before = rows(engine)
    for who in ("王阿姨", "小周"):
        resp = getattr(client, method)(url, headers=as_(who), **({"json": body} if method == "post" else {}))
        assert_refused(resp, 403, "PERMISSION_DENIED", "查看规则与事件日志")
    assert client.get("/api/v1/workflows/rules", headers=as_("赵经理")).status_code == 200
    assert rows(engine) == before


def test_managers_read_their_own_organisation(session_factory, demo, actors, config):
    receive(session_factory, demo, actors, "3")
    with session_factory() as session:
        assert [r.code for r in list_rules(session, actors["赵经理"])] == ["seen"]
        seen, hits = rule_sandbox(session, actors["赵经理"], DRAFT, days=7)
        assert (seen, len(hits)) == (1, 1) and hits[0].actions[0].startswith("通知 主管：RK-SX-")
        assert webhook_deliveries(session, actors["赵经理"], config[1]) == []
        assert org_event_health(session, actors["钱总监"], checks=False).dead_letters == 0


def test_emergency_preview_omits_sites_the_member_may_not_see(client, as_, engine, session_factory, demo, actors):
    """老孙 sees stock at 总仓 and 门店 only: 绍兴's 50 kg is neither chosen nor shown."""
    receive(session_factory, demo, actors, "50", site="SX")
    receive(session_factory, demo, actors, "2", site="ZC")
    body = {"to_site_id": demo.sites["MD"], "items": [{"item_id": demo.items["茶青"], "need": "10"}], "preview": True}
    before = rows(engine)
    resp = client.post(EMERGENCY_URL, headers=as_("老孙"), json=body)
    assert resp.status_code == 200, resp.get_json()
    p = resp.get_json()
    assert p["from_site_id"] == demo.sites["ZC"]
    assert [(s["source_available"], s["suggested"]) for s in p["suggestions"]] == [("2", "2")]
    # Naming the site outright is refused, not answered.
    assert_refused(client.post(EMERGENCY_URL, headers=as_("老孙"), json={**body, "from_site_id": demo.sites["SX"]}),
                   403, "PERMISSION_DENIED", "查看库存")
    assert rows(engine) == before
    with session_factory() as session:
        plan = suggest_emergency(session, actors["老孙"], demo.sites["MD"], [Need(demo.items["茶青"], Decimal(10))])
        assert plan.source.id == demo.sites["ZC"] and plan.suggestions[0].source_available == Decimal(2)
        # A manager, who may see every site, is offered 绍兴.
        assert suggest_emergency(session, actors["赵经理"], demo.sites["MD"],
                                 [Need(demo.items["茶青"], Decimal(10))]).source.id == demo.sites["SX"]


def test_a_clerks_emergency_preview_never_shows_other_sites(client, as_, engine, session_factory, demo, actors):
    """小周 sees stock at 绍兴 only: no other site is a candidate, and none is named or counted."""
    receive(session_factory, demo, actors, "30", site="ZC")
    before = rows(engine)
    body = {"to_site_id": demo.sites["SX"], "items": [{"item_id": demo.items["茶青"]}], "preview": True}
    error = assert_refused(client.post(EMERGENCY_URL, headers=as_("小周"), json=body), 422, "VALIDATION_ERROR",
                           "没有可调出的地点")
    assert "30" not in str(error)
    assert_refused(client.post(EMERGENCY_URL, headers=as_("小周"), json={**body, "from_site_id": demo.sites["ZC"]}),
                   403, "PERMISSION_DENIED", "查看库存")
    # Into a site he may not see at all.
    assert_refused(client.post(EMERGENCY_URL, headers=as_("小周"), json={**body, "to_site_id": demo.sites["MD"]}),
                   403, "PERMISSION_DENIED", "查看库存")
    assert_refused(client.post(EMERGENCY_URL, headers=as_("王阿姨"), json=body), 403, "PERMISSION_DENIED", "查看库存")
    assert rows(engine) == before
