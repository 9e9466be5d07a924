"""Replenishment: safety stock and suggestions from the forecast; accepting goes through orders, transfers
and their approvals; the sandbox writes nothing."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

import models.planning as planning
import workflows.handlers  # noqa: F401  (register relay handlers)
from models.approvals import ApprovalRequest
from models.demo import seed_demo
from models.documents import DocKind, DocStatus, Document
from models.errors import InvalidState, NotASupplier, PermissionDenied, SupplierRequired
from models.infra import AuditEntry, IdempotencyRecord, OutboxEvent
from models.operations.planning import RunForecast, SetPlanningSettings, run_forecast, set_planning_settings
from models.operations.planning_sandbox import PlanningSandbox, SandboxPromotion, run_planning_sandbox
from models.operations.replenishment import (
    AcceptSuggestion,
    DismissSuggestion,
    RecomputeReplenishment,
    accept_suggestion,
    dismiss_suggestion,
    recompute_replenishment,
)
from models.org import Party, PartyKind
from models.stock import StockMove
from models.uow import run
from tests.factories import drain
from tests.models.planning_fakes import (  # noqa: F401
    at,
    fake_engine,
    monday,
    receive,
    supplierless_purchase,
    weekly_history,
)

pytestmark = pytest.mark.usefixtures("fake_engine")


def _plan(session_factory, actors):
    run(session_factory, run_forecast, actors["赵经理"], RunForecast(horizon=4))
    return run(session_factory, recompute_replenishment, actors["赵经理"], RecomputeReplenishment())


def test_store_short_of_stock_gets_a_transfer_from_the_warehouse_surplus(session_factory, demo, actors):
    weekly_history(session_factory, demo, actors, "MD", [5, 5, 5, 5], stock_first=21)  # 1 left
    receive(session_factory, demo, actors, "ZC", 100, at(monday(5)))  # the warehouse sells nothing
    result = _plan(session_factory, actors)
    by_kind = {s.kind: s for s in result.suggestions}
    transfer = by_kind["transfer"]
    assert transfer.site_id == demo.sites["MD"] and transfer.from_site_id == demo.sites["ZC"]
    assert transfer.quantity == Decimal(14) and "purchase" not in by_kind
    clearance = by_kind["clearance"]  # 0% sell-through at 总仓 for 3 weeks; what the transfer leaves
    assert clearance.site_id == demo.sites["ZC"] and clearance.quantity == Decimal(86) and "售罄率" in clearance.reason
    with session_factory() as session:
        safety = session.scalar(select(planning.SafetyStock).where(
            planning.SafetyStock.org_id == demo.org_id, planning.SafetyStock.site_id == demo.sites["MD"]))
    assert safety.value > 0 and safety.reorder_point > safety.value and safety.run_id == result.run_id

    accepted = run(session_factory, accept_suggestion, actors["赵经理"], AcceptSuggestion(transfer.suggestion_id))
    with session_factory() as session:
        doc = session.get(Document, accepted.document_id)
        assert doc.kind == DocKind.TRANSFER and doc.status == DocStatus.REQUESTED
        assert doc.site_id == demo.sites["ZC"] and doc.to_site_id == demo.sites["MD"]
        moves = session.scalar(select(func.count()).select_from(StockMove).where(StockMove.document_id == doc.id))
    assert accepted.status == "accepted" and moves == 0  # a request, not a stock move
    drain(session_factory)
    with session_factory() as session:
        assert session.scalar(select(ApprovalRequest).where(ApprovalRequest.document_id == doc.id)) is not None
    with pytest.raises(InvalidState):
        run(session_factory, accept_suggestion, actors["赵经理"], AcceptSuggestion(transfer.suggestion_id))
    dismissed = run(session_factory, dismiss_suggestion, actors["赵经理"],
                    DismissSuggestion(clearance.suggestion_id, "春节前再看"))
    assert dismissed.status == "dismissed"
    # the recompute now counts the requested transfer as on order: no new transfer
    again = run(session_factory, recompute_replenishment, actors["赵经理"], RecomputeReplenishment())
    assert "transfer" not in {s.kind for s in again.suggestions}
    (clear,) = [s for s in again.suggestions if s.kind == "clearance"]
    assert clear.quantity == Decimal(86)  # what is promised to 门店 is not offered for clearance


def test_accepting_a_purchase_suggestion_confirms_an_order_that_opens_an_approval(session_factory, demo, actors):
    # 60 × ¥60 is far under the ¥10,000 at which a hand-made order needs approval: a suggested one
    # goes to its approvers all the same.
    weekly_history(session_factory, demo, actors, "MD", [5, 5, 5, 5], stock_first=20)
    run(session_factory, set_planning_settings, actors["钱总监"], SetPlanningSettings(
        {"items": {str(demo.items["龙井"]): {"pack_size": 20, "lead_time_weeks": 2}}}, reason="按箱订货"))
    result = _plan(session_factory, actors)
    (purchase,) = [s for s in result.suggestions if s.kind == "purchase"]
    assert purchase.party_id == demo.parties["包装厂"] and purchase.quantity == Decimal(40)  # ROP 21, two boxes of 20
    assert purchase.unit_price == Decimal(60)  # the last receipt's price
    with pytest.raises(PermissionDenied):
        run(session_factory, accept_suggestion, actors["小周"], AcceptSuggestion(purchase.suggestion_id))
    accepted = run(session_factory, accept_suggestion, actors["赵经理"],
                   AcceptSuggestion(purchase.suggestion_id, quantity=Decimal(60)))
    with session_factory() as session:
        order = session.get(Document, accepted.document_id)
        assert order.kind == DocKind.PURCHASE_ORDER and order.status == DocStatus.CONFIRMED
        assert order.party_id == demo.parties["包装厂"] and order.lines[0].quantity == 60
        assert session.scalar(select(AuditEntry).where(AuditEntry.org_id == demo.org_id,
                                                       AuditEntry.action == "planning.settings")) is not None
    drain(session_factory)
    with session_factory() as session:
        req = session.scalar(select(ApprovalRequest).where(ApprovalRequest.document_id == order.id))
    assert req is not None and req.doc_kind == "purchase_order"


def test_a_clerk_may_not_recompute(session_factory, demo, actors):
    with pytest.raises(PermissionDenied):
        run(session_factory, recompute_replenishment, actors["小周"], RecomputeReplenishment())


PLANNING_TABLES = [planning.DemandImport, planning.DemandRow, planning.Promotion, planning.CovariateValue,
                   planning.ForecastRun, planning.ForecastLine, planning.ForecastOverride, planning.SafetyStock,
                   planning.ReplenishmentSuggestion, OutboxEvent, AuditEntry, IdempotencyRecord, Document, StockMove]


def _counts(session_factory, org_id):
    with session_factory() as session:
        return {m.__name__: session.scalar(select(func.count()).select_from(m).where(m.org_id == org_id))
                for m in PLANNING_TABLES}


def test_the_sandbox_writes_nothing_and_compares_with_the_live_plan(session_factory, demo, actors):
    weekly_history(session_factory, demo, actors, "MD", [5, 6, 5, 6], stock_first=24)
    _plan(session_factory, actors)
    before = _counts(session_factory, demo.org_id)
    next_week = monday(0) + timedelta(days=7)
    with session_factory() as session:
        result = run_planning_sandbox(session, actors["赵经理"], PlanningSandbox(
            service_level=0.99, lead_time_weeks=3, method="auto_ets",
            promotion=SandboxPromotion(demo.items["龙井"], next_week, next_week + timedelta(days=6), Decimal("0.5"))))
        assert not session.new and not session.dirty
        session.commit()  # even a commit would write nothing
    assert _counts(session_factory, demo.org_id) == before
    (row,) = result.rows
    assert row.site_id == demo.sites["MD"] and row.live is not None
    assert row.sandbox["safety_stock"] > row.live["safety_stock"] and row.delta["reorder_point"] > 0
    assert row.sandbox["forecast_total"] > row.live["forecast_total"]  # the extra promotion
    assert result.parameters["method"] == "auto_ets" and result.totals["sandbox"]["suggested"] > 0


def test_a_minimum_order_is_still_whole_packs(session_factory, demo, actors):
    # The same history as above needs 40 (two boxes of 20); a minimum of 50 makes it three boxes, not 50 loose.
    weekly_history(session_factory, demo, actors, "MD", [5, 5, 5, 5], stock_first=20)
    run(session_factory, set_planning_settings, actors["钱总监"], SetPlanningSettings(
        {"items": {str(demo.items["龙井"]): {"pack_size": 20, "min_order": 50, "lead_time_weeks": 2}}},
        reason="起订 50 罐"))
    (purchase,) = [s for s in _plan(session_factory, actors).suggestions if s.kind == "purchase"]
    assert purchase.quantity == Decimal(60)


def test_the_sandbox_live_column_agrees_with_its_own_reason_after_stock_moved(session_factory, demo, actors):
    # The plan was stored, then stock arrived: the live column is recomputed on today's stock (its
    # suggestion matches the number in its reason), and what the last recompute stored is shown apart.
    weekly_history(session_factory, demo, actors, "MD", [5, 6, 5, 6], stock_first=22)
    _plan(session_factory, actors)
    with session_factory() as session:
        stored_total = sum(s.quantity for s in session.scalars(select(planning.ReplenishmentSuggestion).where(
            planning.ReplenishmentSuggestion.org_id == demo.org_id,
            planning.ReplenishmentSuggestion.site_id == demo.sites["MD"],
            planning.ReplenishmentSuggestion.kind == "purchase")))
    assert stored_total > 0
    receive(session_factory, demo, actors, "MD", 6, at(monday(0)))
    with session_factory() as session:
        (row,) = run_planning_sandbox(session, actors["赵经理"], PlanningSandbox()).rows
    live = row.live
    assert live is not None and live["stored"]["suggested"] == float(stored_total)
    assert live["suggested"] < float(stored_total)  # six more on hand: a smaller order now
    assert row.delta["suggested"] == 0 and row.sandbox["suggested"] == live["suggested"]  # same parameters
    if live["suggested"]:
        assert f"订货 {live['suggested']:g}" in live["reason"]
    else:
        assert "暂不订货" in live["reason"]


def test_the_sandbox_projects_stockouts_and_stock_value_and_says_the_same(session_factory, demo, actors):
    # 5 a week, 2 left (bought at 60): a longer lead time leaves the shop empty longer (more stock-out
    # weeks); a higher service level orders more (more stock, worth more). The sentence shows the columns.
    weekly_history(session_factory, demo, actors, "MD", [5, 5, 5, 5], stock_first=22)
    _plan(session_factory, actors)
    with session_factory() as session:
        (slow,) = run_planning_sandbox(session, actors["赵经理"], PlanningSandbox(lead_time_weeks=3)).rows
        (safe,) = run_planning_sandbox(session, actors["赵经理"], PlanningSandbox(service_level=0.99)).rows
    live = slow.live
    assert live is not None and live["unit_cost"] == 60.0
    assert slow.sandbox["stockout_weeks"] > live["stockout_weeks"] and slow.delta["stockout_weeks"] > 0
    assert safe.sandbox["stock_value"] > live["stock_value"] and safe.delta["stock_value"] > 0
    for fig in (live, slow.sandbox, safe.sandbox):
        assert fig["stock_value"] == round(fig["average_stock"] * 60, 2)
        assert f"中 {fig['stockout_weeks']} 周缺货" in fig["projection_text"]
        assert f"周末平均库存 {fig['average_stock']:g}" in fig["projection_text"]
        assert f"库存金额约 ¥{fig['stock_value']:,.2f}" in fig["projection_text"]
        assert len(fig["projection"]) == 4 and min(fig["projection"]) >= 0  # the live run's 4 weeks


def test_a_purchase_without_a_usual_supplier_needs_an_active_supplier_of_the_org(session_factory, demo, actors):
    suggestion_id = supplierless_purchase(session_factory, demo)
    other = run(session_factory, seed_demo, f"o-{uuid.uuid4().hex[:10]}")
    with session_factory() as session:
        retired = Party(org_id=demo.org_id, code="S-OLD", name="停用的供应商", kind=PartyKind.SUPPLIER, active=False)
        session.add(retired)
        session.commit()
        retired_id = retired.id
    manager = actors["赵经理"]
    with pytest.raises(SupplierRequired, match="请选择供应商") as no_one:
        run(session_factory, accept_suggestion, manager, AcceptSuggestion(suggestion_id))
    assert no_one.value.code == "SUPPLIER_REQUIRED"
    for party_id in (demo.parties["杭州茶城"], retired_id, other.parties["包装厂"], 2**40):
        with pytest.raises(NotASupplier, match="不是本组织在用的供应商") as refused:
            run(session_factory, accept_suggestion, manager, AcceptSuggestion(suggestion_id, party_id=party_id))
        assert refused.value.code == "NOT_A_SUPPLIER"
    with session_factory() as session:
        still = session.get(planning.ReplenishmentSuggestion, suggestion_id)
        assert (still.status, still.document_id, still.party_id) == (planning.SuggestionStatus.PROPOSED, None, None)
    accepted = run(session_factory, accept_suggestion, manager,
                   AcceptSuggestion(suggestion_id, party_id=demo.parties["包装厂"]))
    with session_factory() as session:
        order = session.get(Document, accepted.document_id)
        assert order.kind == DocKind.PURCHASE_ORDER and order.party_id == demo.parties["包装厂"]
    assert accepted.party_id == demo.parties["包装厂"] and accepted.status == "accepted"
