"""Attacks on the console's 协同 section: a clerk without RULES, a manager without ROLES, another org's
rule/chain/webhook ids, webhook URLs into our own network, absurd thresholds, a missing CSRF token and a
replayed request id. Every refusal is in Chinese and writes nothing."""

from __future__ import annotations

import uuid

import pytest

from models import netguard
from models.actor import load_actor
from models.demo import seed_demo
from models.operations.approval_chains import SaveChain, save_chain
from models.operations.approvals import ChainSpec
from models.operations.rules import RuleSpec, SaveRule, save_rule
from models.operations.webhooks import SubscribeWebhook, subscribe_webhook
from models.rules import Rule
from models.uow import run
from models.webhooks import WebhookSubscription
from tests.console import conftest as console_fixtures
from tests.console.conftest import csrf_of, post
from tests.security.conftest import rows

# The console's fixtures, for these attack replays beside the other security tests.
console_app, console_as = console_fixtures.console_app, console_fixtures.console_as
C = "/console/collaboration"
SENTENCE = {"code": "big-leaf", "name": "大额鲜叶提醒", "trigger": "receipt.posted", "cond-0-field": "quantity",
            "cond-0-op": ">", "cond-0-value": "10", "act-0-type": "notify", "act-0-role": "manager",
            "act-0-text": "到货"}


def _dns(monkeypatch, table: dict[str, list[str]]) -> None:
    monkeypatch.setattr(netguard, "resolve", lambda host, port: table.get(host, ["93.184.216.34"]))


@pytest.fixture
def theirs(session_factory, monkeypatch):
    """Another co-operative's rule, chain and webhook."""
    _dns(monkeypatch, {})
    org = run(session_factory, seed_demo, f"o-{uuid.uuid4().hex[:10]}")
    with session_factory() as s:
        boss = load_actor(s, org.members["钱总监"])
    rule = run(session_factory, save_rule, boss, SaveRule(RuleSpec(
        "theirs", "别家", "shipment.posted", {}, ({"type": "notify", "role": "manager", "text": "别家"},))))
    chain = run(session_factory, save_chain, boss, SaveChain(ChainSpec(
        "transfer", "别家", ({"role": "manager", "timeout_hours": 4},))))
    sub = run(session_factory, subscribe_webhook, boss, SubscribeWebhook("https://theirs.example.com/", ("*",)))
    return {"rule": rule.rule_id, "chain": chain.chain_id, "sub": sub.subscription_id}


def test_a_clerk_without_rules_sees_no_page_and_changes_nothing(console_as, engine):
    clerk = console_as("小周")
    for page in ("/", "/rules/new", "/chains", "/webhooks", "/devices", "/health"):
        resp = clerk.get(C + page)
        assert resp.status_code == 403 and "没有查看这个页面的权限" in resp.get_data(as_text=True), page
    assert "协同" not in clerk.get("/console/").get_data(as_text=True)
    before = rows(engine)
    token = csrf_of(clerk, "/console/")
    for path, data in [("/rules/sandbox", SENTENCE), ("/rules/save", SENTENCE), ("/rules/1/switch", {"enabled": "0"}),
                       ("/chains", {"doc_kind": "transfer", "name": "x", "role0": "clerk", "hours0": "1"}),
                       ("/webhooks", {"url": "https://erp.example.com/", "kinds": "*"}),
                       ("/health/thresholds", {"latency_p95_ms": "1", "retry_rate": "1", "check_pass_rate": "1"})]:
        assert clerk.post(C + path, data={"csrf_token": token, **data}).status_code == 403, path
    assert rows(engine) == before


def test_a_manager_may_try_a_rule_but_the_operation_refuses_to_save_it(console_as, engine, monkeypatch):
    _dns(monkeypatch, {})
    manager = console_as("赵经理")
    before = rows(engine)
    resp = post(manager, f"{C}/rules/save", SENTENCE, page=f"{C}/rules/new")
    assert resp.status_code == 403 and "没有权限" in resp.get_data(as_text=True)
    for path, data in [("/chains", {"doc_kind": "transfer", "name": "x", "role0": "manager", "hours0": "1"}),
                       ("/webhooks", {"url": "https://erp.example.com/", "kinds": "*"}),
                       ("/health/thresholds", {"latency_p95_ms": "1", "retry_rate": "1", "check_pass_rate": "1"})]:
        refused = post(manager, C + path, data, page=f"{C}/chains")
        assert refused.status_code == 403 and "没有权限" in refused.get_data(as_text=True), path
    assert rows(engine) == before


def test_another_orgs_rule_chain_and_webhook_are_not_found(console_as, engine, session_factory, theirs):
    director = console_as("钱总监")
    assert director.get(f"{C}/rules/{theirs['rule']}").status_code == 404
    assert director.get(f"{C}/chains?edit={theirs['chain']}").status_code == 404
    log = director.get(f"{C}/webhooks/{theirs['sub']}")
    assert log.status_code == 404 and "找不到" in log.get_data(as_text=True)
    before = rows(engine)
    for path in (f"/rules/{theirs['rule']}/switch", f"/chains/{theirs['chain']}/switch",
                 f"/webhooks/{theirs['sub']}/switch"):
        resp = post(director, C + path, {"enabled": "0", "next": f"{C}/"})
        assert resp.status_code == 303, path
        assert "找不到" in director.get(f"{C}/").get_data(as_text=True), path  # flashed back
    # Editing their rule through our form, and a rule that pushes to their webhook.
    edit = post(director, f"{C}/rules/save", {**SENTENCE, "code": "theirs", "rule_id": theirs["rule"]},
                page=f"{C}/rules/new")
    assert edit.status_code == 404
    push = post(director, f"{C}/rules/save",
                {**SENTENCE, "act-0-type": "webhook", "act-0-subscription_id": theirs["sub"]}, page=f"{C}/rules/new")
    assert push.status_code == 404 and "找不到" in push.get_data(as_text=True)
    chain = post(director, f"{C}/chains", {"chain_id": theirs["chain"], "doc_kind": "transfer", "name": "抢来的",
                                           "role0": "manager", "hours0": "1"}, page=f"{C}/chains")
    assert chain.status_code == 404
    assert rows(engine) == before
    with session_factory() as s:
        assert s.get_one(Rule, theirs["rule"]).enabled is True
        assert s.get_one(WebhookSubscription, theirs["sub"]).active is True


@pytest.mark.parametrize("url, dns", [
    ("https://127.0.0.1/hook", {}), ("https://10.0.0.8/hook", {}), ("https://169.254.169.254/latest/meta-data", {}),
    ("https://intranet.example.com/", {"intranet.example.com": ["192.168.1.20"]}),
    ("https://[::1]/", {}), ("http://erp.example.com/", {}), ("https://user:pw@erp.example.com/", {}),
    ("javascript:alert(1)", {}), ("https://" + "a" * 600 + ".com/", {})])
def test_a_webhook_into_our_own_network_is_refused_by_the_netguard(console_as, engine, monkeypatch, url, dns):
    _dns(monkeypatch, {"127.0.0.1": ["127.0.0.1"], "10.0.0.8": ["10.0.0.8"], "169.254.169.254": ["169.254.169.254"],
                       "::1": ["::1"], **dns})
    director = console_as("钱总监")
    before = rows(engine)
    resp = post(director, f"{C}/webhooks", {"url": url, "kinds": "*"}, page=f"{C}/webhooks")
    assert resp.status_code == 422
    assert "WEBHOOK_URL_FORBIDDEN" in resp.get_data(as_text=True)
    assert rows(engine) == before


@pytest.mark.parametrize("latency, retry, passing", [
    ("0", "5", "100"), ("1e999", "5", "100"), ("NaN", "5", "100"), ("abc", "5", "100"), ("5000", "500", "100"),
    ("5000", "-1", "100"), ("5000", "5", "101"), ("-Infinity", "5", "100"), ("9" * 40, "5", "100"), ("", "", ""),
    ("5000", "1e999999999", "100"), ("5000", "5", "1e-999999999")])
def test_absurd_thresholds_are_refused_and_nothing_changes(console_as, engine, latency, retry, passing):
    director = console_as("钱总监")
    before = rows(engine)
    resp = post(director, f"{C}/health/thresholds",
                {"latency_p95_ms": latency, "retry_rate": retry, "check_pass_rate": passing}, page=f"{C}/health")
    assert resp.status_code == 422 and "VALIDATION_ERROR" in resp.get_data(as_text=True)
    assert rows(engine) == before


def test_absurd_rule_and_chain_numbers_are_refused(console_as, engine):
    director = console_as("钱总监")
    before = rows(engine)
    for changes in ({"act-0-type": "create_task", "act-0-due_in_hours": "99999999"}, {"act-0-type": "create_task",
                    "act-0-due_in_hours": "-3"}, {"cond-0-value": "x" * 5000, "act-0-text": "y" * 5000},
                    {"code": "c" * 500}, {f"act-{n}-type": "notify" for n in range(1000)},
                    {"raw_condition": '{"var": "event.password"}'}, {"act-0-raw": '{"type": "drop"}'}):
        assert post(director, f"{C}/rules/save", {**SENTENCE, **changes}, page=f"{C}/rules/new").status_code == 422
    for hours, minimum in (("1e9", "0"), ("NaN", "0"), ("0", "0"), ("4", "1e13"), ("4", "-1"), ("4", "abc"),
                           ("1e999999999", "0"), ("-1e999999999", "0"), ("4", "1e999999999")):
        resp = post(director, f"{C}/chains", {"doc_kind": "transfer", "name": "x", "role0": "manager", "hours0": hours,
                                              "min_value": minimum}, page=f"{C}/chains")
        assert resp.status_code == 422, (hours, minimum)
    assert rows(engine) == before


def test_missing_csrf_and_a_replayed_request_id_with_another_body(console_as, engine, session_factory, demo):
    director = console_as("钱总监")
    before = rows(engine)
    assert director.post(f"{C}/rules/save", data=SENTENCE).status_code == 400
    assert director.post(f"{C}/rules/save", data={**SENTENCE, "csrf_token": "forged"}).status_code == 400
    assert rows(engine) == before
    key = uuid.uuid4().hex
    assert post(director, f"{C}/rules/save", {**SENTENCE, "request_id": key}, page=f"{C}/rules/new").status_code == 303
    after_first = rows(engine)
    again = post(director, f"{C}/rules/save", {**SENTENCE, "request_id": key}, page=f"{C}/rules/new")
    assert again.status_code == 303 and rows(engine) == after_first
    other = post(director, f"{C}/rules/save", {**SENTENCE, "code": "other", "request_id": key}, page=f"{C}/rules/new")
    assert other.status_code == 409 and "IDEMPOTENCY_CONFLICT" in other.get_data(as_text=True)
    assert rows(engine) == after_first
    with session_factory() as s:
        assert s.query(Rule).filter(Rule.org_id == demo.org_id).count() == 1
