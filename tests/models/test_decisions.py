"""The decisions 首页 adds to the one to-do query: who sees which, and when a lot or a device counts."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from models.base import utcnow
from models.devices import DeviceReading
from models.operations import FreezeStock, ReceiveGoods, freeze_stock, receive_goods
from models.queries import decisions
from models.queries.stock_availability import stock_availability
from models.queries.todos import todos_for
from models.stock import FreezeDirection, Lot, QcStatus
from models.uow import run
from tests.console import today_setup as ts


def _kinds(session_factory, actor, now=None):
    with session_factory() as s:
        return [t.kind for t in todos_for(s, actor, now=now)]


def test_expiry_window_follows_the_shelf_life():
    assert [decisions.expiry_window_days(d) for d in (None, 0, 3, 10, 540)] == [7, 7, 1, 2, 30]


def test_near_expiry_by_window_and_site(session_factory, demo, actors):
    ts.near_expiry_lot(session_factory, demo, actors, days=5)
    assert "near_expiry" in _kinds(session_factory, actors["老孙"])  # 总仓 is his
    assert "near_expiry" not in _kinds(session_factory, actors["小周"])  # 绍兴 only
    # two months ahead of the date, the 30-day window of a 540-day tin is not reached yet
    assert "near_expiry" not in _kinds(session_factory, actors["老孙"], now=utcnow() - timedelta(days=60))


def test_escalations_carry_their_deadline_overdue_first(session_factory, demo, actors):
    later = ts.escalated_task(session_factory, demo, overdue=False, title="稍后")
    late = ts.escalated_task(session_factory, demo, overdue=True, title="已晚")
    with session_factory() as s:
        found = [t for t in todos_for(s, actors["赵经理"]) if t.kind == "escalation"]
    assert [(t.task_id, t.overdue) for t in found] == [(late, True), (later, False)]
    assert all(t.due_at is not None and t.urgent for t in found)


def test_dead_letters_only_for_members_who_read_the_automation(session_factory, demo, actors):
    dead = ts.dead_letter(session_factory, demo)
    with session_factory() as s:
        assert [t.dead_letter_id for t in todos_for(s, actors["赵经理"]) if t.kind == "dead_letter"] == [dead]
    assert "dead_letter" not in _kinds(session_factory, actors["老孙"])


def test_a_sensor_is_stale_after_its_interval(session_factory, demo, actors):
    device = ts.stale_sensor(session_factory, demo, actors)
    with session_factory() as s:
        stale = decisions.stale_devices(s, actors["赵经理"], utcnow())
        assert [d.device_id for d in stale] == [device]
        # within its 10-minute interval of being registered nothing is stale
        assert decisions.stale_devices(s, actors["赵经理"], utcnow() - timedelta(hours=2) + timedelta(minutes=5)) == []
    assert "stale_device" not in _kinds(session_factory, actors["吴会计"])  # finance cannot freeze
    with session_factory.begin() as s:  # a reading five minutes ago: on time again
        s.add(DeviceReading(org_id=demo.org_id, device_id=device, metric="temperature", value=Decimal(4),
                            measured_at=utcnow() - timedelta(minutes=5)))
    with session_factory() as s:
        assert decisions.stale_devices(s, actors["赵经理"], utcnow()) == []
        [late] = decisions.stale_devices(s, actors["赵经理"], utcnow() + timedelta(minutes=30))
        assert late.last_reading_at is not None and late.device_id == device


def test_suggestions_for_planners_only(session_factory, demo, actors):
    ids = ts.planning(session_factory, demo)
    with session_factory() as s:
        assert [t.suggestion_id for t in todos_for(s, actors["赵经理"]) if t.kind == "suggestion"] == [
            ids["suggestion_id"]]
    assert "suggestion" not in _kinds(session_factory, actors["小周"])
    assert "below_safety" not in _kinds(session_factory, actors["赵经理"])  # answered by the suggestion


def test_below_safety_stock_counts_available_stock_as_the_stock_query_does(session_factory, demo, actors):
    ts.planning(session_factory, demo, safety="30", suggest=False)
    with session_factory() as s:
        [short] = decisions.below_safety_stock(s, actors["赵经理"])
        assert (short.site_id, short.item_id, short.available) == (demo.sites["MD"], demo.items["龙井"], Decimal(0))
    tins = run(session_factory, receive_goods, actors["赵经理"], ReceiveGoods(
        site_id=demo.sites["MD"], item_id=demo.items["龙井"], quantity=Decimal(40), party_id=demo.parties["包装厂"],
        unit_price=Decimal(50), price_reason="测试"))
    with session_factory() as s:
        assert decisions.below_safety_stock(s, actors["赵经理"]) == []  # 40 available ≥ 30
    run(session_factory, freeze_stock, actors["赵经理"], FreezeStock(
        demo.items["龙井"], FreezeDirection.OUTBOUND, "包装破损", site_id=demo.sites["MD"], lot_id=tins.lot_id))
    with session_factory() as s:  # 40 on hand, none of it can leave: short again, as /stock says
        [short] = decisions.below_safety_stock(s, actors["赵经理"])
        assert short.available == Decimal(0)
        [row] = stock_availability(s, actors["赵经理"], site_ids=[demo.sites["MD"]], item_ids=[demo.items["龙井"]])
        assert row.available == short.available and row.on_hand == Decimal(40)


def test_a_qc_failed_lot_without_a_freeze_is_not_available(session_factory, demo, actors):
    """A lot marked QC failed with no freeze holding it (record_qc always freezes; older data need not):
    its 40 tins count for nothing in the SQL sum below safety stock (failed lots left out by id), as in
    the stock query, and it is a held to-do."""
    ts.planning(session_factory, demo, safety="30", suggest=False)
    boss = actors["赵经理"]

    def tins(quantity: int) -> int:
        return run(session_factory, receive_goods, boss, ReceiveGoods(
            site_id=demo.sites["MD"], item_id=demo.items["龙井"], quantity=Decimal(quantity),
            party_id=demo.parties["包装厂"], unit_price=Decimal(50), price_reason="测试")).lot_id

    failed = tins(40)
    with session_factory.begin() as s:
        s.get_one(Lot, failed).qc_status = QcStatus.FAILED
    with session_factory() as s:
        [short] = decisions.below_safety_stock(s, boss)
        assert (short.item_id, short.available) == (demo.items["龙井"], Decimal(0))
        [row] = stock_availability(s, boss, site_ids=[demo.sites["MD"]], item_ids=[demo.items["龙井"]])
        assert (row.available, row.qc_held) == (Decimal(0), Decimal(40))
        assert [(t.kind, t.lot_id) for t in todos_for(s, boss) if t.kind in ("qc_failed", "frozen")] == [
            ("qc_failed", failed)]
    tins(35)
    with session_factory() as s:
        assert decisions.below_safety_stock(s, boss) == []  # 35 good tins ≥ 30
