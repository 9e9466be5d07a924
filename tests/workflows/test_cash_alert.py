"""The cash threshold: set by finance (audited), checked by the beat, alerting once per crossing."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import select

import workflows.handlers  # noqa: F401  (register relay handlers)
import workflows.tasks as tasks
from models.actor import Actor
from models.base import utcnow
from models.errors import PermissionDenied, ValidationError
from models.event_log import Notification
from models.infra import AuditEntry, OutboxEvent
from models.operations.cash import SetCashThreshold, check_cash_threshold, set_cash_threshold
from models.operations.money import RecordMoney, SetCreditTerms, receive_money, set_credit_terms
from models.org import Org
from models.timeutil import SHANGHAI, local_date
from models.uow import run
from tests.factories import drain, receive
from workflows.schedule import beat_schedule


def beat_cash(monkeypatch, session_factory) -> dict[int, bool]:
    """Run the beat's cash scan as the worker would: one queued check per org with a threshold, each run
    in its own transaction; org id → whether its check emitted an event."""
    monkeypatch.setattr(tasks, "session_factory", lambda: session_factory)
    queued: list[int] = []
    monkeypatch.setattr(tasks.check_org_cash, "delay", queued.append)
    assert tasks.scan_cash_threshold.run() == len(queued)
    return {org_id: tasks.check_org_cash.run(org_id) for org_id in queued}


def _noon_yesterday() -> datetime:
    return datetime.combine(local_date(utcnow()) - timedelta(days=1), time(12), SHANGHAI)


def _events(session_factory, org_id: int) -> list[str]:
    with session_factory() as s:
        return list(s.scalars(select(OutboxEvent.kind).where(
            OutboxEvent.org_id == org_id, OutboxEvent.kind.like("cash.%")).order_by(OutboxEvent.created_at)))


def _cash_in(session_factory, demo, amount: int) -> None:
    """Money from the customer in advance: cash goes up, nothing is due."""
    run(session_factory, receive_money, Actor.system_actor(demo.org_id),
        RecordMoney(demo.parties["杭州茶城"], D(amount), via="cash", matches=()))


def _supplier_bill(session_factory, demo, kg: int) -> None:
    """kg × 80 owed to the supplier, due tomorrow 10:00 (two days' credit)."""
    receive(session_factory, demo, kg, party="包装厂", business_time=_noon_yesterday())


def test_the_alert_fires_once_per_crossing_and_reaches_finance_and_the_director(session_factory, demo, actors):
    run(session_factory, set_credit_terms, actors["吴会计"], SetCreditTerms(demo.parties["包装厂"], 2))
    _cash_in(session_factory, demo, 1000)
    _supplier_bill(session_factory, demo, 5)  # 1000 now, 600 from tomorrow 10:00
    run(session_factory, set_cash_threshold, actors["吴会计"], SetCashThreshold(D(700)))
    now = utcnow()
    first = run(session_factory, check_cash_threshold, demo.org_id, now)
    assert first.below and first.event == "cash.below_threshold" and first.lowest == D("600.00")
    again = run(session_factory, check_cash_threshold, demo.org_id, now + timedelta(minutes=15))
    assert again.below and again.event is None  # still below: no second alert
    _cash_in(session_factory, demo, 500)  # 1500 → 1100: back above
    back = run(session_factory, check_cash_threshold, demo.org_id, now + timedelta(minutes=30))
    assert not back.below and back.event == "cash.recovered"
    assert run(session_factory, check_cash_threshold, demo.org_id, now + timedelta(minutes=45)).event is None
    _supplier_bill(session_factory, demo, 10)  # 800 more due: 1500 → 300, a second crossing
    assert run(session_factory, check_cash_threshold, demo.org_id, now + timedelta(hours=1)).event == (
        "cash.below_threshold")
    assert _events(session_factory, demo.org_id) == ["cash.below_threshold", "cash.recovered",
                                                     "cash.below_threshold"]
    drain(session_factory)
    with session_factory() as s:
        notes = list(s.scalars(select(Notification).where(Notification.org_id == demo.org_id,
                                                          Notification.title == "现金预警")
                               .order_by(Notification.id)))
    assert sorted(n.member_id for n in notes) == sorted([demo.members["吴会计"], demo.members["钱总监"]] * 2)
    assert "现金低于下限 700 元，最低 600 元" in notes[0].body
    assert demo.members["赵经理"] not in {n.member_id for n in notes}  # a manager may not see finance


def test_the_beat_checks_each_org_with_a_threshold_in_its_own_task(monkeypatch, session_factory, demo, actors):
    assert beat_schedule()["cash-threshold"] == {"task": "workflows.tasks.scan_cash_threshold", "schedule": 900.0}
    _cash_in(session_factory, demo, 100)
    assert demo.org_id not in beat_cash(monkeypatch, session_factory)  # no threshold: not checked
    run(session_factory, set_cash_threshold, actors["吴会计"], SetCashThreshold(D(500)))
    assert beat_cash(monkeypatch, session_factory)[demo.org_id] is True  # 100 now < 500
    assert beat_cash(monkeypatch, session_factory)[demo.org_id] is False  # redelivered / next beat: once
    assert _events(session_factory, demo.org_id) == ["cash.below_threshold"]


def test_a_new_threshold_is_judged_afresh_and_no_threshold_checks_nothing(session_factory, demo, actors):
    _cash_in(session_factory, demo, 100)
    assert run(session_factory, check_cash_threshold, demo.org_id, utcnow()) is None
    run(session_factory, set_cash_threshold, actors["吴会计"], SetCashThreshold(D(500)))
    assert run(session_factory, check_cash_threshold, demo.org_id, utcnow()).event == "cash.below_threshold"
    run(session_factory, set_cash_threshold, actors["钱总监"], SetCashThreshold(D(200), reason="银行授信到位"))
    assert run(session_factory, check_cash_threshold, demo.org_id, utcnow()).event == "cash.below_threshold"
    run(session_factory, set_cash_threshold, actors["吴会计"], SetCashThreshold(None))
    assert run(session_factory, check_cash_threshold, demo.org_id, utcnow()) is None
    with session_factory() as s:
        audits = [(a.before, a.after, a.reason) for a in s.scalars(select(AuditEntry).where(
            AuditEntry.org_id == demo.org_id, AuditEntry.action == "cash.threshold").order_by(AuditEntry.id))]
        assert "cash_min_balance" not in (s.get_one(Org, demo.org_id).settings or {})
    assert audits == [({"cash_min_balance": None}, {"cash_min_balance": "500"}, ""),
                      ({"cash_min_balance": "500"}, {"cash_min_balance": "200"}, "银行授信到位"),
                      ({"cash_min_balance": "200"}, {"cash_min_balance": None}, "")]


@pytest.mark.parametrize("minimum", [D("1e13"), D("-1e13"), D("NaN"), D("Infinity"), D("0.001")])
def test_absurd_thresholds_are_refused(session_factory, demo, actors, minimum):
    with pytest.raises(ValidationError):
        run(session_factory, set_cash_threshold, actors["吴会计"], SetCashThreshold(minimum))


def test_only_finance_sets_the_threshold(session_factory, demo, actors):
    for name in ("小周", "赵经理", "王阿姨"):
        with pytest.raises(PermissionDenied):
            run(session_factory, set_cash_threshold, actors[name], SetCashThreshold(D(100)))
    # An overdraft line: a negative minimum is a real setting.
    assert run(session_factory, set_cash_threshold, actors["吴会计"], SetCashThreshold(D("-5000"))).minimum == D(
        "-5000.00")
