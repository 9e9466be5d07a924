"""The collaboration section's operations and queries: rules saved and switched by command, chains
edited and retired, webhooks paused, event-health thresholds bounded, health over time, device status."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from models import netguard
from models.base import utcnow
from models.demo import seed_demo
from models.errors import NotFound, PermissionDenied, ValidationError, WebhookUrlForbidden
from models.event_log import HandlerRun
from models.operations import ReceiveGoods, receive_goods
from models.operations.approval_chains import SaveChain, SwitchChain, save_chain, switch_chain
from models.operations.approvals import ChainSpec, choose_steps
from models.operations.devices import RegisterDevice, register_device
from models.operations.health_thresholds import SetHealthThresholds, set_health_thresholds
from models.operations.rules import RuleSpec, SaveRule, SwitchRule, save_rule, switch_rule
from models.operations.webhooks import SubscribeWebhook, SwitchWebhook, subscribe_webhook, switch_webhook
from models.queries.device_status import device_status
from models.queries.event_health_series import health_series
from models.queries.workflow_config import list_rules, list_webhooks
from models.uow import run

SPEC = RuleSpec(code="big-leaf", name="大额鲜叶", trigger="receipt.posted",
                condition={">": [{"var": "event.quantity"}, "10"]},
                actions=({"type": "notify", "role": "manager", "text": "{number} 到货"},))


@pytest.fixture
def public_dns(monkeypatch):
    monkeypatch.setattr(netguard, "resolve", lambda host, port: ["93.184.216.34"])


def test_save_rule_creates_then_versions_and_a_replayed_key_saves_once(session_factory, actors):
    director = actors["钱总监"]
    key = uuid.uuid4().hex
    first = run(session_factory, save_rule, director, SaveRule(SPEC), idempotency_key=key)
    again = run(session_factory, save_rule, director, SaveRule(SPEC), idempotency_key=key)
    assert first == again and first.created and first.version == 1
    changed = run(session_factory, save_rule, director, SaveRule(SPEC, first.rule_id, "门槛改为 20"))
    assert (changed.rule_id, changed.version, changed.created) == (first.rule_id, 2, False)
    off = run(session_factory, switch_rule, director, SwitchRule(first.rule_id, False))
    assert off.version == 3
    with session_factory() as s:
        rules = list_rules(s, director)
    assert [(r.code, r.enabled) for r in rules] == [("big-leaf", False)]


def test_save_rule_refuses_a_manager_and_another_orgs_rule(session_factory, actors):
    with pytest.raises(PermissionDenied):
        run(session_factory, save_rule, actors["赵经理"], SaveRule(SPEC))
    other = run(session_factory, seed_demo, f"o-{uuid.uuid4().hex[:10]}")
    from models.actor import load_actor
    with session_factory() as s:
        boss = load_actor(s, other.members["钱总监"])
    theirs = run(session_factory, save_rule, boss, SaveRule(SPEC))
    with pytest.raises(NotFound):
        run(session_factory, save_rule, actors["钱总监"], SaveRule(SPEC, theirs.rule_id))
    with pytest.raises(NotFound):
        run(session_factory, switch_rule, actors["钱总监"], SwitchRule(theirs.rule_id, False))


def test_a_rule_with_several_conditions_and_actions_is_saved_within_the_caps(session_factory, actors, engine):
    director = actors["钱总监"]
    term = {">": [{"var": "event.quantity"}, "10"]}
    notify = {"type": "notify", "role": "manager", "text": "到货"}
    ok = run(session_factory, save_rule, director, SaveRule(RuleSpec(
        "ten", "十个条件", "receipt.posted", {"or": [term] * 9 + [{"==": [{"var": "kind"}, "receipt.posted"]}]},
        (notify,) * 10)))
    assert ok.created
    from tests.security.conftest import rows
    before = rows(engine)
    for condition, actions, message in [
        ({"and": [term] * 11}, (notify,), "规则最多 10 个条件"),
        ({"and": [term, {"or": [term] * 10}]}, (notify,), "规则最多 10 个条件"),  # nested ones count too
        ({"and": [term]}, (notify,) * 11, "规则最多 10 个动作"),
        ({">": [{"var": "event.password"}, 1]}, (notify,), "不认识的字段：event.password"),
        ({">": [{"var": "org.secret"}, 1]}, (notify,), "不认识的字段"),
        ({">": [{"var": [{"var": "kind"}]}, 1]}, (notify,), "不认识的字段"),  # a computed path is no field
        ({"like": [{"var": "event.quantity"}, 1]}, (notify,), "不支持的运算符：like"),
    ]:
        with pytest.raises(ValidationError, match=message):
            run(session_factory, save_rule, director, SaveRule(RuleSpec("bad", "坏规则", "receipt.posted", condition,
                                                                        actions)))
    assert rows(engine) == before


def test_chains_are_changed_and_retired_and_new_documents_follow(session_factory, demo, actors):
    director = actors["钱总监"]
    spec = ChainSpec("transfer", "大额调拨", ({"role": "manager", "timeout_hours": 4},), Decimal(100))
    saved = run(session_factory, save_chain, director, SaveChain(spec))
    two_levels = ChainSpec("transfer", "大额调拨", ({"role": "manager", "timeout_hours": 4},
                                                 {"role": "director", "timeout_hours": 8}), Decimal(100))
    run(session_factory, save_chain, director, SaveChain(two_levels, saved.chain_id))
    with session_factory() as s:
        assert choose_steps(s, demo.org_id, "transfer", Decimal(500)) == (saved.chain_id, [
            {"role": "manager", "timeout_hours": 4}, {"role": "director", "timeout_hours": 8}])
    assert run(session_factory, switch_chain, director, SwitchChain(saved.chain_id, False)).active is False
    with session_factory() as s:
        assert choose_steps(s, demo.org_id, "transfer", Decimal(500))[0] is None  # back to the default
    with pytest.raises(ValidationError):
        run(session_factory, save_chain, director, SaveChain(
            ChainSpec("transfer", "x", ({"role": "farmer", "timeout_hours": 4},)), saved.chain_id))
    with pytest.raises(PermissionDenied):
        run(session_factory, switch_chain, actors["赵经理"], SwitchChain(saved.chain_id, True))


def test_a_webhook_is_paused_and_resumed_with_its_url_checked_again(session_factory, actors, public_dns, monkeypatch):
    director = actors["钱总监"]
    sub = run(session_factory, subscribe_webhook, director, SubscribeWebhook("https://erp.example.com/in", ("*",)))
    assert run(session_factory, switch_webhook, director, SwitchWebhook(sub.subscription_id, False)).active is False
    monkeypatch.setattr(netguard, "resolve", lambda host, port: ["10.0.0.5"])  # DNS moved inside
    with pytest.raises(WebhookUrlForbidden):
        run(session_factory, switch_webhook, director, SwitchWebhook(sub.subscription_id, True))
    with session_factory() as s:
        lines = list_webhooks(s, director)
    assert [(w.id, w.active, w.deliveries) for w in lines] == [(sub.subscription_id, False, 0)]
    assert "secret" not in lines[0].to_dict()


@pytest.mark.parametrize("latency, retry, passing", [
    (Decimal(0), Decimal("0.05"), Decimal(1)), (Decimal("1e12"), Decimal("0.05"), Decimal(1)),
    (Decimal(5000), Decimal(5), Decimal(1)), (Decimal(5000), Decimal("0.05"), Decimal("-0.1")),
    (Decimal(5000), Decimal("NaN"), Decimal(1)), (Decimal("Infinity"), Decimal("0.05"), Decimal(1))])
def test_absurd_thresholds_are_refused(session_factory, actors, latency, retry, passing):
    with pytest.raises(ValidationError):
        run(session_factory, set_health_thresholds, actors["钱总监"], SetHealthThresholds(latency, retry, passing))


def test_thresholds_saved_show_in_the_series_and_runs_are_bucketed(session_factory, demo, actors):
    run(session_factory, set_health_thresholds, actors["钱总监"],
        SetHealthThresholds(Decimal(800), Decimal("0.1"), Decimal("0.9")))
    with pytest.raises(PermissionDenied):
        run(session_factory, set_health_thresholds, actors["赵经理"],
            SetHealthThresholds(Decimal(800), Decimal("0.1"), Decimal("0.9")))
    import workflows.handlers  # noqa: F401  (register the handlers the relay runs)
    from workflows.relay import relay_pending

    run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal(12), unit="公斤",
        party_id=demo.parties["王阿姨"], grade_id=demo.grades["二级"]))
    while relay_pending(session_factory):  # other tests' events may be queued ahead of this org's
        pass
    with session_factory() as s:
        # Asked as of this org's newest run, not the wall clock: a run made at 10:59:59 and a series read at
        # 11:00:01 would put the run in the bucket before the newest one.
        now = s.scalar(select(func.max(HandlerRun.created_at)).where(HandlerRun.org_id == demo.org_id))
        assert now is not None
        day = health_series(s, actors["赵经理"], "24h", now=now, checks=True)
        fortnight = health_series(s, actors["赵经理"], "14d", now=now)
    assert (day.thresholds.latency_p95_ms, day.thresholds.retry_rate) == (Decimal(800), Decimal("0.1"))
    assert len(day.buckets) == 24 and len(fortnight.buckets) == 14
    assert day.buckets[-1].handled >= 1 and day.buckets[-1].retry_rate == 0
    assert sum(b.handled for b in day.buckets) == sum(b.handled for b in fortnight.buckets)
    assert day.buckets[-1].check_pass_rate == 1.0 and fortnight.buckets[-1].check_pass_rate is None
    with pytest.raises(PermissionDenied), session_factory() as s:
        health_series(s, actors["小周"])


def test_device_status_flags_a_quiet_sensor_not_a_scale(session_factory, demo, actors):
    director = actors["钱总监"]
    run(session_factory, register_device, director, RegisterDevice(
        "T-01", "sensor", demo.sites["ZC"], demo.items["茶青"], {"expected_interval_minutes": 30}))
    run(session_factory, register_device, director, RegisterDevice("S-01", "scale", demo.sites["SX"]))
    with session_factory() as s:
        now = device_status(s, actors["赵经理"])
        later = device_status(s, actors["赵经理"], now=utcnow() + timedelta(minutes=45))
        page2 = device_status(s, actors["赵经理"], after_id=now[0].id)
    assert [(d.code, d.stale) for d in now] == [("T-01", False), ("S-01", False)]
    assert [(d.code, d.stale, d.expected_minutes) for d in later] == [("T-01", True, 30), ("S-01", False, None)]
    assert [d.code for d in page2] == ["S-01"]
    with pytest.raises(PermissionDenied), session_factory() as s:
        device_status(s, actors["小周"])


def test_recorded_consistency_checks_give_the_pass_rate_over_time(session_factory, demo, actors):
    from models.event_log import ConsistencyCheckRun
    from models.operations.health_checks import record_consistency_checks

    now = utcnow()
    checked = run(session_factory, record_consistency_checks, demo.org_id, now - timedelta(hours=3))
    assert checked.checks_total > 0 and checked.checks_passed == checked.checks_total
    with session_factory() as s:  # a failing run two hours ago, as the beat would have recorded it
        s.add(ConsistencyCheckRun(org_id=demo.org_id, checks_total=4, checks_passed=3, problems={"x": 1},
                                  created_at=now - timedelta(hours=2)))
        s.commit()
        series = health_series(s, actors["赵经理"], "24h", now=now)
    rates = [b.check_pass_rate for b in series.buckets]
    assert rates[-4] == 1.0 and rates[-3] == 0.75 and rates[-1] is None
    assert all(r is None for r in rates[:-4])


def test_latency_and_retries_are_measured_per_bucket(session_factory, demo, actors):
    from models.event_log import HandlerRun, RunStatus
    from models.infra import OutboxEvent

    now = utcnow()
    at = now - timedelta(hours=2)
    with session_factory() as s:
        for n, (status, attempts, took) in enumerate([(RunStatus.DONE, 1, 250), (RunStatus.DONE, 1, 1250),
                                                       (RunStatus.RETRY, 2, None), (RunStatus.DONE, 3, 90_000)]):
            event = OutboxEvent(org_id=demo.org_id, kind="receipt.posted", payload={}, created_at=at)
            s.add(event)
            s.flush()
            s.add(HandlerRun(org_id=demo.org_id, event_id=event.id, handler=f"h{n}", kind="receipt.posted",
                             status=status, attempts=attempts, event_created_at=at, created_at=at,
                             handled_at=at + timedelta(milliseconds=took) if took else None))
        s.commit()
        bucket = health_series(s, actors["赵经理"], "24h", now=now).buckets[-3]
    assert (bucket.handled, bucket.retry_rate) == (4, 0.5)
    assert bucket.latency_p95_ms is not None and abs(bucket.latency_p95_ms - 1250) < 1  # retried runs not counted
