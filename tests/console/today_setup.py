"""Things that wait for a decision on 首页, made through the operations where one exists (tests only)."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import update

from models.base import utcnow
from models.demo import DemoOrg
from models.devices import Device
from models.event_log import HandlerRun, RunStatus
from models.operations import FreezeStock, ReceiveGoods, freeze_stock, receive_goods
from models.operations.devices import RegisterDevice, register_device
from models.operations.transfers import RequestTransfer, TransferLineIn, request_transfer
from models.outbox import emit
from models.planning import ForecastRun, ReplenishmentSuggestion, SafetyStock, SuggestionKind, SuggestionStatus
from models.planning import RunStatus as ForecastStatus
from models.stock import FreezeDirection
from models.tasks import TaskStatus, Todo
from models.timeutil import local_date
from models.uow import run
from tests.miniprogram_api.fixtures_3b import receive


def requested_transfer(session_factory: Any, demo: DemoOrg, actors: dict, *, urgent: bool = False) -> Any:
    """小周 asks to move 5 kg of 茶青 from 绍兴 to 总仓 (after a delivery there): the manager decides it."""
    receive(session_factory, demo, actors, qty="20")
    return run(session_factory, request_transfer, actors["小周"], RequestTransfer(
        from_site_id=demo.sites["SX"], to_site_id=demo.sites["ZC"],
        lines=(TransferLineIn(item_id=demo.items["茶青"], quantity=Decimal(5)),), urgent=urgent, reason="总仓缺货"))


def frozen_lot(session_factory: Any, demo: DemoOrg, actors: dict) -> tuple[Any, Any]:
    """A delivery at 绍兴 whose lot a sensor-style freeze stops leaving; returns (receipt, freeze)."""
    receipt = receive(session_factory, demo, actors, qty="12")
    freeze = run(session_factory, freeze_stock, actors["赵经理"], FreezeStock(
        item_id=demo.items["茶青"], direction=FreezeDirection.OUTBOUND, reason="冷库温度超限（传感器 T-1）",
        site_id=demo.sites["SX"], lot_id=receipt.lot_id))
    return receipt, freeze


def near_expiry_lot(session_factory: Any, demo: DemoOrg, actors: dict, days: int = 5) -> Any:
    """20 tins of 龙井 at 总仓 that expire in ``days`` days (shelf life 540 days: a 30-day window)."""
    today = local_date(utcnow())  # the co-op's day (days left are counted in China's dates)
    return run(session_factory, receive_goods, actors["赵经理"], ReceiveGoods(
        site_id=demo.sites["ZC"], item_id=demo.items["龙井"], quantity=Decimal(20),
        party_id=demo.parties["包装厂"], unit_price=Decimal(50), price_reason="测试",
        produced_on=today - timedelta(days=500), expires_on=today + timedelta(days=days)))


def planning(session_factory: Any, demo: DemoOrg, *, safety: str | None = "30", suggest: bool = True) -> dict[str, int]:
    """A finished forecast run with a safety stock of 龙井 at 门店 and (optionally) a proposed purchase."""
    with session_factory.begin() as s:
        fr = ForecastRun(org_id=demo.org_id, status=ForecastStatus.COMPLETED, horizon=8, method="naive",
                         first_week=date(2026, 11, 30))
        s.add(fr)
        s.flush()
        if safety is not None:
            s.add(SafetyStock(org_id=demo.org_id, item_id=demo.items["龙井"], site_id=demo.sites["MD"],
                              value=Decimal(safety), reorder_point=Decimal(40), service_level=Decimal("0.95"),
                              lead_time_weeks=Decimal(1), computed_at=utcnow(), run_id=fr.id))
        out = {"run_id": fr.id}
        if suggest:
            sug = ReplenishmentSuggestion(
                org_id=demo.org_id, kind=SuggestionKind.PURCHASE, item_id=demo.items["龙井"], site_id=demo.sites["MD"],
                party_id=demo.parties["包装厂"], quantity=Decimal(40), unit_price=Decimal(50),
                reason="预计两周内售罄，低于再订货点", status=SuggestionStatus.PROPOSED, run_id=fr.id)
            s.add(sug)
            s.flush()
            out["suggestion_id"] = sug.id
    return out


def dead_letter(session_factory: Any, demo: DemoOrg) -> int:
    """A handler run that gave up (a webhook receiver that stayed down)."""
    with session_factory.begin() as s:
        event = emit(s, demo.org_id, "receipt.posted", {"test": True})
        s.flush()
        dead = HandlerRun(org_id=demo.org_id, event_id=event.id, handler="webhook.deliver", kind="receipt.posted",
                          status=RunStatus.DEAD, attempts=8, last_error="连接被拒绝", event_created_at=utcnow())
        s.add(dead)
        s.flush()
        return dead.id


def stale_sensor(session_factory: Any, demo: DemoOrg, actors: dict) -> int:
    """A cold-store sensor at 绍兴 registered two hours ago that never reported."""
    device, _secret = run(session_factory, register_device, actors["钱总监"], RegisterDevice(
        code="T-1", kind="sensor", site_id=demo.sites["SX"], item_id=demo.items["茶青"],
        config={"temperature": {"min": 0, "max": 8}, "expected_interval_minutes": 10}))
    with session_factory.begin() as s:
        s.execute(update(Device).where(Device.id == device.id).values(created_at=utcnow() - timedelta(hours=2)))
    return device.id


def escalated_task(session_factory: Any, demo: DemoOrg, *, overdue: bool = True, title: str = "处理质检异常") -> int:
    """A to-do escalated to the manager (level 1), past its deadline unless told otherwise."""
    due = utcnow() + (timedelta(hours=-3) if overdue else timedelta(hours=5))
    with session_factory.begin() as s:
        todo = Todo(org_id=demo.org_id, kind="qc", title=title, body="供应商未回复", assignee_role="manager",
                    due_at=due, level=1, status=TaskStatus.OPEN)
        s.add(todo)
        s.flush()
        return todo.id
