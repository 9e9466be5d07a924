"""Attacks on the cash routes: another org's books never appear, roles without 查看财务 / 结算付款 are
refused, absurd hours and thresholds are 422 and change nothing, a replayed key with another body is 409,
and another org's cash alert reaches only that org's people."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import select

import workflows.handlers  # noqa: F401  (register relay handlers)
from models.actor import Actor
from models.cash import THRESHOLD_KEY, CashAlertState
from models.demo import seed_demo
from models.event_log import Notification
from models.infra import OutboxEvent
from models.operations.cash import SetCashThreshold, set_cash_threshold
from models.operations.money import RecordMoney, receive_money
from models.org import Org
from models.uow import run
from tests.factories import drain, receive, ship
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client  # noqa: F401
from tests.workflows.test_cash_alert import beat_cash


def _settings(session_factory, org_id: int) -> dict:
    with session_factory() as s:
        return dict(s.get_one(Org, org_id).settings or {})


def test_another_orgs_money_never_appears(client, demo, session_factory, as_):
    other = run(session_factory, seed_demo, f"x-{uuid.uuid4().hex[:8]}")
    receive(session_factory, other, 10)  # their farmer is owed
    ship(session_factory, other, 1, unit_price=500)  # their customer owes them
    run(session_factory, receive_money, Actor.system_actor(other.org_id),
        RecordMoney(other.parties["杭州茶城"], Decimal(999), via="cash", matches=()))
    body = client.get("/api/v1/finance/cash-forecast", headers=as_("吴会计")).get_json()
    assert body["items"] == [] and body["opening"] == "0.00" and body["overdue_receivables"]["parties"] == 0
    theirs = set(other.parties.values())
    assert all(i["party_id"] not in theirs for i in body["items"])


def test_roles_without_the_permission_are_refused(client, demo, session_factory, as_):
    for name in ("小周", "王阿姨", "老孙", "赵经理"):
        assert client.get("/api/v1/finance/cash-forecast", headers=as_(name)).status_code == 403, name
        r = client.put("/api/v1/finance/cash-threshold", headers=as_(name), json={"minimum": "1"})
        assert r.status_code == 403, name
    assert client.get("/api/v1/finance/cash-forecast").status_code == 401
    assert THRESHOLD_KEY not in _settings(session_factory, demo.org_id)


def test_absurd_hours_and_thresholds_are_refused_and_change_nothing(client, demo, session_factory, as_):
    for hours in ("0", "169", "-1", "1e3", "true", "72.5", "١٢"):
        r = client.get(f"/api/v1/finance/cash-forecast?hours={hours}", headers=as_("吴会计"))
        assert r.status_code == 422, hours
    for minimum in ("1e13", "-1e13", "NaN", "Infinity", "1.001", True, "１００", [1], {"a": 1}):
        r = client.put("/api/v1/finance/cash-threshold", headers=as_("吴会计"), json={"minimum": minimum})
        assert r.status_code == 422, minimum
    r = client.put("/api/v1/finance/cash-threshold", headers=as_("吴会计"), json={"minimum": "1", "reason": "x" * 201})
    assert r.status_code == 422
    assert THRESHOLD_KEY not in _settings(session_factory, demo.org_id)


def test_a_replayed_key_with_another_threshold_is_a_conflict(client, demo, session_factory, as_):
    headers = {**as_("吴会计"), "Idempotency-Key": "cash-min-replay"}
    assert client.put("/api/v1/finance/cash-threshold", headers=headers, json={"minimum": "100"}).status_code == 200
    again = client.put("/api/v1/finance/cash-threshold", headers=headers, json={"minimum": "-99999"})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "IDEMPOTENCY_CONFLICT"
    assert _settings(session_factory, demo.org_id)[THRESHOLD_KEY] == "100.00"


def test_another_orgs_cash_alert_reaches_only_its_own_people(monkeypatch, session_factory, demo):
    other = run(session_factory, seed_demo, f"x-{uuid.uuid4().hex[:8]}")
    run(session_factory, set_cash_threshold, Actor.system_actor(other.org_id), SetCashThreshold(Decimal(1000)))
    checked = beat_cash(monkeypatch, session_factory)
    assert checked[other.org_id] is True and demo.org_id not in checked  # they have nothing: below 1000
    drain(session_factory)
    with session_factory() as s:
        notes = list(s.scalars(select(Notification).where(Notification.title == "现金预警",
                                                          Notification.org_id.in_([demo.org_id, other.org_id]))))
        ours = list(s.scalars(select(OutboxEvent.kind).where(OutboxEvent.org_id == demo.org_id,
                                                              OutboxEvent.kind.like("cash.%"))))
        assert s.get(CashAlertState, demo.org_id) is None  # we set no threshold: we are not checked
    assert sorted(n.member_id for n in notes) == sorted([other.members["吴会计"], other.members["钱总监"]])
    assert {n.org_id for n in notes} == {other.org_id} and ours == []
