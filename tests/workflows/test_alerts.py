"""Seeded alerts: low stock, near expiry, slow movers, QC failure — scanned once a day, sent by rules."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

import workflows.handlers  # noqa: F401  (register relay handlers)
from models.base import utcnow
from models.event_log import Notification
from models.operations import ReceiveGoods, RecordQc, receive_goods, record_qc
from models.operations.alerts import scan_stock_alerts
from models.org import Org
from models.rules import Rule
from models.stock import Lot
from models.timeutil import local_date
from models.uow import run
from tests.factories import drain
from tests.models.planning_fakes import weekly_history


def _notes(session_factory, org_id, title):
    with session_factory() as session:
        return list(session.scalars(select(Notification).where(Notification.org_id == org_id,
                                                               Notification.title == title)))


def test_stock_alerts_fire_once_a_day_through_seeded_rules(session_factory, demo, actors):
    run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal(4), unit="公斤",
        party_id=demo.parties["王阿姨"], grade_id=demo.grades["二级"]))
    with session_factory() as session:
        org = session.get_one(Org, demo.org_id)
        org.settings = {**(org.settings or {}), "safety_stock": {str(demo.items["茶青"]): "10"}}
        session.commit()
    now = utcnow()
    if local_date(now + timedelta(minutes=5)) != local_date(now):  # 23:55–24:00 in China: stay in one day
        now -= timedelta(minutes=10)
    kinds = sorted(a["kind"] for a in run(session_factory, scan_stock_alerts, demo.org_id, now))
    assert kinds == ["lot.near_expiry", "stock.below_safety"]
    assert run(session_factory, scan_stock_alerts, demo.org_id, now + timedelta(minutes=5)) == []  # same day
    later = run(session_factory, scan_stock_alerts, demo.org_id, now + timedelta(days=40))
    assert "item.slow_moving" in [a["kind"] for a in later]
    drain(session_factory)
    with session_factory() as session:
        assert {r.code for r in session.scalars(select(Rule).where(Rule.org_id == demo.org_id))} >= {
            "low-stock", "near-expiry", "qc-failed", "sensor-anomaly", "slow-movers"}
    lows = _notes(session_factory, demo.org_id, "低库存提醒")
    assert len(lows) == 2  # today, and again on the day 40 days later: once a day, not once a scan
    assert lows[0].body == "茶青 在 绍兴收购点 只剩 4，低于安全库存 10"
    assert [n.member_id for n in _notes(session_factory, demo.org_id, "滞销提醒")] == [demo.members["赵经理"]]
    assert lows[0].member_id == demo.members["赵经理"]
    near = _notes(session_factory, demo.org_id, "临期提醒（先到期先出）")
    # Today and again 40 days on (by then past expiry): the seeded text, with the lot's days left filled in.
    assert len(near) == 2 and all(n.body.startswith("批次 ") and " 天到期，请优先出库" in n.body for n in near)


def test_qc_failure_alert_reaches_qa(session_factory, demo, actors):
    from models.operations import AssignRole, assign_role
    from models.org import Role

    run(session_factory, assign_role, actors["钱总监"], AssignRole(member_id=demo.members["老孙"], role=Role.QA))
    receipt = run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal(2), unit="公斤",
        party_id=demo.parties["李大伯"], grade_id=demo.grades["一级"]))
    run(session_factory, record_qc, actors["赵经理"], RecordQc(lot_id=receipt.lot_id, passed=False, note="水分超标"))
    drain(session_factory)
    [note] = _notes(session_factory, demo.org_id, "质检不合格通知")
    assert note.member_id == demo.members["老孙"] and "水分超标" in note.body


def test_an_alert_day_is_a_shanghai_day(session_factory, demo, actors):
    """23:30 and 00:30 in Shanghai are one UTC date but two alert days: the alert comes again."""
    from datetime import UTC, datetime

    run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal(4), unit="公斤",
        party_id=demo.parties["王阿姨"], grade_id=demo.grades["二级"]))
    with session_factory() as session:
        org = session.get_one(Org, demo.org_id)
        org.settings = {**(org.settings or {}), "safety_stock": {str(demo.items["茶青"]): "10"}}
        session.commit()
    today = utcnow().date()
    late_evening = datetime(today.year, today.month, today.day, 15, 30, tzinfo=UTC) + timedelta(days=2)
    lows = [a for a in run(session_factory, scan_stock_alerts, demo.org_id, late_evening)
            if a["kind"] == "stock.below_safety"]
    assert [(a["on_hand"], a["safety"]) for a in lows] == [("4", "10")]
    after_midnight = late_evening + timedelta(hours=1)  # same UTC date, next Shanghai day
    assert [a["kind"] for a in run(session_factory, scan_stock_alerts, demo.org_id, after_midnight)].count(
        "stock.below_safety") == 1
    with session_factory() as session:
        expires = session.scalars(select(Lot.expires_on).where(Lot.org_id == demo.org_id)).one()
    near = [a for a in run(session_factory, scan_stock_alerts, demo.org_id, after_midnight)
            if a["kind"] == "lot.near_expiry"]
    assert [a["days_left"] for a in near] == [(expires - local_date(after_midnight)).days]


def test_the_planners_computed_safety_stock_is_the_alert_level(session_factory, demo, actors):
    """With the real forecast engine: a computed level, and no fixed setting, raises the alert."""
    from models.operations.common import dec
    from models.operations.planning import RunForecast, run_forecast
    from models.operations.replenishment import RecomputeReplenishment, recompute_replenishment
    from models.planning import SafetyStock

    weekly_history(session_factory, demo, actors, "MD", [3, 9, 2, 8], stock_first=23)  # 1 罐 left
    run(session_factory, run_forecast, actors["赵经理"], RunForecast(horizon=4))
    run(session_factory, recompute_replenishment, actors["赵经理"], RecomputeReplenishment())
    with session_factory() as session:
        level = session.scalars(select(SafetyStock.value).where(
            SafetyStock.org_id == demo.org_id, SafetyStock.item_id == demo.items["龙井"],
            SafetyStock.site_id == demo.sites["MD"])).one()
    assert level > 1  # no fixed setting exists: only the computed level can make this alert
    lows = [a for a in run(session_factory, scan_stock_alerts, demo.org_id, utcnow())
            if a["kind"] == "stock.below_safety"]
    assert [(a["item_id"], a["site_id"], a["on_hand"], a["safety"]) for a in lows] == [
        (demo.items["龙井"], demo.sites["MD"], "1", dec(level))]
