"""Findings 6, 13 and 16 (rules): configuration stays inside the organisation, one bad rule never stops
the others, webhooks never reach our own network, and rule sizes are bounded."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
from sqlalchemy import select

import models.netguard as netguard
import workflows.handlers  # noqa: F401  (register relay handlers)
from devstubs.server import StubRequest, StubResponse, StubServer
from models.demo import seed_demo
from models.errors import NotFound, ValidationError, WebhookUrlForbidden
from models.event_log import HandlerRun, Notification, RunStatus
from models.infra import OutboxEvent
from models.operations import ReceiveGoods, receive_goods
from models.operations.rules import RuleSpec, create_rule, update_rule
from models.operations.webhooks import SubscribeWebhook, subscribe_webhook
from models.rules import Rule
from models.stock import Freeze
from models.uow import run
from models.webhooks import WebhookDelivery, WebhookSubscription
from tests.factories import drain
from tests.security.conftest import assert_refused, rows

RULES_URL = "/api/v1/workflows/rules"
HOOKS_URL = "/api/v1/workflows/webhooks"


@pytest.fixture
def other(session_factory):
    """A second organisation: org A's configuration must never reach it."""
    return run(session_factory, seed_demo, f"b-{uuid.uuid4().hex[:12]}")


def _notify(**extra):
    return {"type": "notify", "text": "{number} 到货", **extra}


def _rule(code, *actions, trigger="receipt.posted"):
    return {"code": code, "name": f"规则 {code}", "trigger": trigger, "condition": {}, "actions": list(actions)}


def _receive(session_factory, demo, actors, qty=5):
    return run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal(qty), unit="公斤",
        party_id=demo.parties["王阿姨"], grade_id=demo.grades["二级"]))


def _park(session, attempt: HandlerRun) -> None:
    """Dead-letter a run this test left retrying, so another test's ``retry_due`` never picks it up."""
    attempt.status = RunStatus.DEAD
    session.commit()


# -- finding 6: ids of another organisation --------------------------------------------------------------------


@pytest.mark.parametrize("action", [
    lambda b: _notify(member_id=b.members["钱总监"]),
    lambda b: {"type": "freeze", "direction": "both", "site_id": b.sites["SX"]},
    lambda b: {"type": "create_transfer", "from_site_id": b.sites["ZC"], "to_site_id": b.sites["MD"],
               "quantity": "1", "item_id": b.items["茶青"]},
    lambda b: {"type": "webhook", "subscription_id": 0},  # replaced below by org B's subscription
])
def test_a_rule_naming_another_orgs_rows_is_refused_when_saved(client, as_, engine, session_factory, demo, actors,
                                                                other, action):
    with session_factory() as session:
        # Inactive: a later drain must never POST anywhere; it is org B's row all the same.
        sub = WebhookSubscription(org_id=other.org_id, url="https://93.184.216.34/b", secret="s", kinds=["*"],
                                  active=False)
        session.add(sub)
        session.commit()
        sub_id = sub.id
    body = action(other)
    if body["type"] == "webhook":
        body["subscription_id"] = sub_id
    before = rows(engine)
    resp = client.post(RULES_URL, headers=as_("钱总监"), json=_rule("cross-org", body))
    assert_refused(resp, 404, "NOT_FOUND", "找不到")
    with pytest.raises(NotFound, match="找不到"):
        run(session_factory, create_rule, actors["钱总监"], RuleSpec(
            "cross-org", "跨组织", "receipt.posted", {}, (body,)))
    assert rows(engine) == before


def test_an_update_cannot_smuggle_another_orgs_member_in(session_factory, engine, demo, actors, other):
    rule = run(session_factory, create_rule, actors["钱总监"], RuleSpec(
        "ok", "正常", "receipt.posted", {}, (_notify(role="manager"),)))
    before = rows(engine)
    with pytest.raises(NotFound, match="找不到成员") as refused:
        run(session_factory, update_rule, actors["钱总监"], rule.id, RuleSpec(
            "ok", "正常", "receipt.posted", {}, (_notify(member_id=other.members["钱总监"]),)))
    assert refused.value.code == "NOT_FOUND"
    assert rows(engine) == before


def test_a_rule_broken_after_saving_records_its_failure_and_the_others_still_fire(session_factory, demo, actors,
                                                                                  other):
    """The attack: an org-A rule naming org B's site made every org-A receipt.posted rule fail."""
    good_before = run(session_factory, create_rule, actors["钱总监"], RuleSpec(
        "a-good", "先建的好规则", "receipt.posted", {}, (_notify(role="manager"),)))
    with session_factory() as session:  # saved before validation existed (or its rows moved since)
        bad = Rule(org_id=demo.org_id, code="a-bad", name="坏规则", trigger="receipt.posted", condition={},
                   actions=[_notify(member_id=other.members["钱总监"]),
                            {"type": "freeze", "direction": "both", "site_id": other.sites["SX"]}],
                   enabled=True, version=1)
        session.add(bad)
        session.commit()
        bad_id = bad.id
    good_after = run(session_factory, create_rule, actors["钱总监"], RuleSpec(
        "a-good-2", "后建的好规则", "receipt.posted", {}, (_notify(role="director"),)))
    receipt = _receive(session_factory, demo, actors)
    drain(session_factory)
    with session_factory() as session:
        notes = {(n.title, n.member_id) for n in session.scalars(
            select(Notification).where(Notification.kind == "receipt.posted",
                                       Notification.org_id.in_([demo.org_id, other.org_id])))}
        assert notes == {(good_before.name, demo.members["赵经理"]), (good_after.name, demo.members["钱总监"])}
        assert session.scalar(select(Freeze).where(Freeze.org_id.in_([demo.org_id, other.org_id]))) is None
        failed = [e.payload for e in session.scalars(select(OutboxEvent).where(
            OutboxEvent.org_id == demo.org_id, OutboxEvent.kind == "rule.failed"))]
        assert [(f["rule_id"], f["error"]) for f in failed] == [(bad_id, "NOT_FOUND")]
        assert "找不到成员" in failed[0]["message"]
        fired = sorted(e.payload["code"] for e in session.scalars(select(OutboxEvent).where(
            OutboxEvent.org_id == demo.org_id, OutboxEvent.kind == "rule.fired")))
        assert fired == ["a-good", "a-good-2"]
        # The relay's own run of the rules handler succeeded: nothing left to retry.
        run_ = session.scalar(select(HandlerRun).where(HandlerRun.org_id == demo.org_id,
                                                       HandlerRun.handler == "rules.evaluate",
                                                       HandlerRun.kind == "receipt.posted"))
        assert run_ is not None and run_.status == RunStatus.DONE
    assert receipt.number


def test_a_member_deactivated_after_saving_is_not_notified_and_the_failure_is_recorded(session_factory, demo,
                                                                                       actors):
    from models.org import Member

    rule = run(session_factory, create_rule, actors["钱总监"], RuleSpec(
        "to-zhou", "通知小周", "receipt.posted", {}, (_notify(member_id=demo.members["小周"]),)))
    with session_factory() as session:
        session.get_one(Member, demo.members["小周"]).active = False
        session.commit()
    _receive(session_factory, demo, actors)
    drain(session_factory)
    with session_factory() as session:
        assert session.scalar(select(Notification).where(Notification.title == rule.name,
                                                         Notification.org_id == demo.org_id)) is None
        [failed] = [e.payload for e in session.scalars(select(OutboxEvent).where(
            OutboxEvent.org_id == demo.org_id, OutboxEvent.kind == "rule.failed"))]
        assert failed["rule_id"] == rule.id and failed["error"] == "NOT_FOUND" and "已停用" in failed["message"]


# -- finding 16 (rules): bounded sizes ---------------------------------------------------------------------------


@pytest.mark.parametrize("change, message", [
    (lambda r: {**r, "name": "名" * 1_000_000}, "名称最多 128 字"),
    (lambda r: {**r, "condition": {"==": [{"var": "event.note"}, "x" * 1_000_000]}}, "条件过长"),
    (lambda r: {**r, "actions": [_notify(role="manager")] * 11}, "最多 10 个动作"),
    (lambda r: {**r, "actions": [_notify(role="manager", text="长" * 100_000)]}, "动作过长"),
    (lambda r: {**r, "actions": [_notify(role="manager", junk={"a": "b"})]}, "不认识的字段"),
    (lambda r: {**r, "actions": [{"type": "create_task", "role": "qa", "title": "t", "due_in_hours": 1e300}]},
     "完成时限"),
])
def test_oversized_or_junk_rules_are_refused(client, as_, engine, session_factory, actors, change, message):
    body = change(_rule("big", _notify(role="manager")))
    before = rows(engine)
    # The route's typed body may refuse first, in its own words; the operation's own message is checked below.
    assert_refused(client.post(RULES_URL, headers=as_("钱总监"), json=body), 422, "VALIDATION_ERROR")
    with pytest.raises(ValidationError, match=message):
        run(session_factory, create_rule, actors["钱总监"], RuleSpec(
            body["code"], body["name"], body["trigger"], body["condition"], tuple(body["actions"])))
    assert rows(engine) == before


# -- finding 13: webhooks never reach our own network -------------------------------------------------------------


FORBIDDEN = [
    "http://127.0.0.1:6379/",  # the worker POSTed to Redis
    "https://127.0.0.1/hook",
    "https://localhost/hook",
    "https://10.1.2.3/hook",
    "https://192.168.1.10/hook",
    "https://172.16.0.1/hook",
    "https://169.254.169.254/latest/meta-data/",
    "https://[::1]/hook",
    "https://[::ffff:127.0.0.1]/hook",
    "https://[fe80::1]/hook",
    "https://0.0.0.0/hook",
    "https://100.64.0.1/hook",
    "https://224.0.0.1/hook",
]


@pytest.mark.parametrize("url", FORBIDDEN)
def test_webhooks_to_loopback_private_or_metadata_addresses_are_refused(client, as_, engine, session_factory,
                                                                       actors, url):
    before = rows(engine)
    resp = client.post(HOOKS_URL, headers=as_("钱总监"), json={"url": url, "kinds": ["receipt.posted"]})
    assert_refused(resp, 422, "WEBHOOK_URL_FORBIDDEN", "网址")
    with pytest.raises(WebhookUrlForbidden, match="网址") as refused:
        run(session_factory, subscribe_webhook, actors["钱总监"], SubscribeWebhook(url, ("receipt.posted",)))
    assert refused.value.code == "WEBHOOK_URL_FORBIDDEN"
    assert rows(engine) == before


def test_plain_http_and_unresolvable_hosts_are_refused(client, as_, engine):
    before = rows(engine)
    assert_refused(client.post(HOOKS_URL, headers=as_("钱总监"), json={
        "url": "http://93.184.216.34/hook", "kinds": ["*"]}), 422, "WEBHOOK_URL_FORBIDDEN", "https://")
    assert_refused(client.post(HOOKS_URL, headers=as_("钱总监"), json={
        "url": "https://no-such-host.invalid/hook", "kinds": ["*"]}), 422, "WEBHOOK_URL_FORBIDDEN", "无法解析")
    assert rows(engine) == before


def test_a_public_url_is_accepted(session_factory, actors):
    sub = run(session_factory, subscribe_webhook, actors["钱总监"],
              SubscribeWebhook("https://93.184.216.34/hook", ("receipt.posted",)))
    assert sub.subscription_id > 0 and len(sub.secret) > 20
    with session_factory() as session:  # a later drain must never POST to the internet
        session.get_one(WebhookSubscription, sub.subscription_id).active = False
        session.commit()


def test_delivery_checks_the_address_again_dns_rebinding(session_factory, demo, actors, monkeypatch):
    """A host that was public when subscribed now resolves to loopback: nothing is posted."""
    with StubServer() as server:
        @server.route("POST", "/hook")
        def hook(req: StubRequest) -> StubResponse:
            return StubResponse(200, {"ok": True})

        port = server.netloc.rsplit(":", 1)[1]
        answers = {"rebind.example.net": ["93.184.216.34"]}
        monkeypatch.setattr(netguard, "resolve", lambda host, _port: answers[host])
        monkeypatch.setenv("LIUZHUAN_WEBHOOK_ALLOW_HTTP", "1")
        sub = run(session_factory, subscribe_webhook, actors["钱总监"],
                  SubscribeWebhook(f"http://rebind.example.net:{port}/hook", ("receipt.posted",)))
        answers["rebind.example.net"] = ["127.0.0.1"]  # the attacker's DNS flips
        _receive(session_factory, demo, actors)
        drain(session_factory)
        assert server.received("/hook") == []
    with session_factory() as session:
        [delivery] = session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.subscription_id == sub.subscription_id))
        assert delivery.status == "pending"
        [attempt] = session.scalars(select(HandlerRun).where(HandlerRun.org_id == demo.org_id,
                                                             HandlerRun.handler == "webhooks.send"))
        assert attempt.status == RunStatus.RETRY and "内网" in attempt.last_error
        _park(session, attempt)


def test_delivery_does_not_follow_redirects(session_factory, demo, actors, monkeypatch):
    with StubServer() as server:
        @server.route("POST", "/hook")
        def hook(req: StubRequest) -> StubResponse:
            return StubResponse(302, {}, headers={"Location": "http://169.254.169.254/latest/meta-data/"})

        monkeypatch.setenv("LIUZHUAN_WEBHOOK_ALLOW_HTTP", "1")
        monkeypatch.setenv("LIUZHUAN_WEBHOOK_ALLOW_HOSTS", server.netloc)  # the test stub only
        sub = run(session_factory, subscribe_webhook, actors["钱总监"],
                  SubscribeWebhook(f"{server.base_url}/hook", ("receipt.posted",)))
        _receive(session_factory, demo, actors)
        drain(session_factory)
        assert len(server.received("/hook")) == 1
    with session_factory() as session:
        [delivery] = session.scalars(select(WebhookDelivery).where(
            WebhookDelivery.subscription_id == sub.subscription_id))
        assert delivery.status == "pending"
        [attempt] = session.scalars(select(HandlerRun).where(HandlerRun.org_id == demo.org_id,
                                                             HandlerRun.handler == "webhooks.send"))
        assert attempt.status == RunStatus.RETRY and "HTTP 302" in attempt.last_error
        _park(session, attempt)


def test_the_test_only_webhook_escapes_are_refused_in_production():
    from app.settings import Settings

    base = {"LIUZHUAN_ENV": "production", "SECRET_KEY": "k" * 16 + "Q7x!" + "z" * 16,
            "PUBLIC_BASE_URL": "https://liuzhuan.example.cn"}
    Settings.from_env(base)  # the base itself is acceptable
    for escape in ({"LIUZHUAN_WEBHOOK_ALLOW_HTTP": "1"}, {"LIUZHUAN_WEBHOOK_ALLOW_HOSTS": "127.0.0.1:6379"}):
        with pytest.raises(ValidationError, match="生产环境不能放开 Webhook 网址检查") as refused:
            Settings.from_env({**base, **escape})
        assert refused.value.code == "VALIDATION_ERROR"


def test_a_condition_that_overflows_or_compares_nan_neither_crashes_nor_fires(session_factory, demo, actors):
    """Arithmetic a business user wrote ("9e999999" squared, "NaN") evaluates to no match, never a 500."""
    from models.queries.workflow_config import rule_sandbox

    _receive(session_factory, demo, actors)
    with session_factory() as session:
        for condition in ({">": [{"*": ["9e999999", "9e999999"]}, 1]}, {"<": [{"var": "event.quantity"}, "NaN"]},
                          {">=": [{"var": "event.quantity"}, "-Infinity"]}):
            draft = RuleSpec("d", "草稿", "receipt.posted", condition, (_notify(role="manager"),))
            assert rule_sandbox(session, actors["赵经理"], draft, days=1) == (1, [])
