"""Replenishment from the forecast: safety stock and reorder points, suggestions, and the sandbox.

A suggestion never moves stock: accepting it confirms a purchase order or requests a transfer
through the existing operations, so it goes through the same approval chains as any other.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from forecast.types import Explanation, Forecast, Plan
from models import forecasting
from models.actor import Actor, Permission
from models.base import utcnow
from models.catalog import Item
from models.demand import DemandWeek, local_date_today, weekly_demand
from models.documents import DocKind, DocStatus, Document, DocumentLine
from models.errors import InvalidState, NotASupplier, SupplierRequired, ValidationError
from models.idempotency import idempotent
from models.ledger import moving_average_cost
from models.lookup import get_owned
from models.operations.orders import CreateOrder, OrderLineIn, create_order
from models.operations.planning import (
    item_settings,
    latest_run,
    planning_settings,
    qty,
)
from models.operations.transfers import RequestTransfer, TransferLineIn, request_transfer
from models.org import Party, PartyKind, Site, SiteKind
from models.outbox import emit
from models.planning import (
    ForecastLine,
    ForecastRun,
    ReplenishmentSuggestion,
    SafetyStock,
    SuggestionKind,
    SuggestionStatus,
)
from models.stock import Balance
from models.timeutil import week_start

ZERO = Decimal(0)
Key = tuple[int, int]
KIND_LABELS = {SuggestionKind.PURCHASE: "采购", SuggestionKind.TRANSFER: "调拨", SuggestionKind.CLEARANCE: "清仓"}
STATUS_LABELS = {SuggestionStatus.PROPOSED: "待处理", SuggestionStatus.ACCEPTED: "已采纳",
                 SuggestionStatus.DISMISSED: "已忽略", SuggestionStatus.SUPERSEDED: "已被新建议取代"}


# -- the computation (reads only) ---------------------------------------------------------------

@dataclass(frozen=True)
class KeyPlan:
    item_id: int
    site_id: int
    on_hand: Decimal
    on_order: Decimal
    forecast_total: Decimal
    safety_stock: Decimal
    reorder_point: Decimal
    order_quantity: Decimal
    service_level: float
    lead_time_weeks: float
    reason: str


@dataclass(frozen=True)
class Draft:
    kind: SuggestionKind
    item_id: int
    site_id: int
    quantity: Decimal
    reason: str
    from_site_id: int | None = None
    party_id: int | None = None
    unit_price: Decimal = ZERO


@dataclass
class Computed:
    plans: dict[Key, KeyPlan] = field(default_factory=dict)
    drafts: list[Draft] = field(default_factory=list)


def forecast_from_lines(key: str, lines: Sequence[ForecastLine]) -> Forecast:
    """Rebuild an engine Forecast from stored lines, planned (overridden) values as the mean."""
    shift = [float(ln.final - ln.mean) for ln in lines]

    def band(name: str) -> tuple[float, ...]:
        return tuple(max(float(getattr(ln, name)) + d, 0.0) for ln, d in zip(lines, shift, strict=True))

    first = lines[0]
    e = first.explanation or {}
    explanation = Explanation(level=float(e.get("level", 0)), trend=float(e.get("trend", 0)),
                              seasonality=tuple(float((ln.explanation or {}).get("seasonality", 0)) for ln in lines),
                              holiday_effect=(), promo_effect=(), factors=(),
                              short_history=bool(e.get("short_history")), summary=str(e.get("summary", "")))
    return Forecast(key=key, method=first.method, weeks=tuple(ln.week for ln in lines),
                    mean=tuple(float(ln.final) for ln in lines), lo80=band("lo80"), hi80=band("hi80"),
                    lo95=band("lo95"), hi95=band("hi95"), accuracy=(first.accuracy or {}).get("methods", {}),
                    baseline="seasonal_naive", explanation=explanation, warnings=tuple(first.warnings or ()),
                    error_sd=float(first.error_sd))


def available(session: Session, org_id: int) -> dict[Key, Decimal]:
    """Return on hand less reserved per item × stock site."""
    rows = session.execute(select(Balance.item_id, Balance.site_id, func.sum(Balance.on_hand - Balance.reserved))
                           .join(Site, Site.id == Balance.site_id)
                           .where(Balance.org_id == org_id, Site.kind != SiteKind.IN_TRANSIT)
                           .group_by(Balance.item_id, Balance.site_id))
    return {(i, s): Decimal(q or 0) for i, s, q in rows}


def on_order(session: Session, org_id: int) -> dict[Key, Decimal]:
    """Return what is coming per item × site: open purchase order lines and open transfers."""
    out: dict[Key, Decimal] = defaultdict(Decimal)
    po = session.execute(select(DocumentLine.item_id, Document.site_id, DocumentLine.quantity,
                                DocumentLine.done_quantity).join(Document, Document.id == DocumentLine.document_id)
                         .where(Document.org_id == org_id, Document.kind == DocKind.PURCHASE_ORDER,
                                Document.status.in_([DocStatus.CONFIRMED, DocStatus.PARTIAL])))
    for item_id, site_id, quantity, done in po:
        # create_order always names the order's site; Document.site_id is nullable only for other kinds.
        out[(item_id, cast(int, site_id))] += max(quantity - done, ZERO)
    for item_id, site_id, quantity in _open_transfers(session, org_id, Document.to_site_id, IN_FLIGHT):
        out[(item_id, site_id)] += quantity
    return dict(out)


IN_FLIGHT = (DocStatus.REQUESTED, DocStatus.APPROVED, DocStatus.IN_TRANSIT)


def _open_transfers(session: Session, org_id: int, site_column: Any, statuses: Sequence[DocStatus]) -> Any:
    return session.execute(select(DocumentLine.item_id, site_column, DocumentLine.quantity)
                           .join(Document, Document.id == DocumentLine.document_id)
                           .where(Document.org_id == org_id, Document.kind == DocKind.TRANSFER,
                                  Document.status.in_(list(statuses))))


def promised_out(session: Session, org_id: int) -> dict[Key, Decimal]:
    """Return what requested or approved transfers will take out of each item × site (not yet dispatched)."""
    out: dict[Key, Decimal] = defaultdict(Decimal)
    for item_id, site_id, quantity in _open_transfers(session, org_id, Document.site_id,
                                                      (DocStatus.REQUESTED, DocStatus.APPROVED)):
        out[(item_id, site_id)] += quantity
    return dict(out)


def usual_supplier(session: Session, org_id: int, item_id: int, settings: dict[str, Any]
                   ) -> tuple[int | None, Decimal | None]:
    """Return (party id, last unit price) of an item's usual supplier: configured, else the latest PO or receipt."""
    configured = settings.get("supplier_id")
    stmt = (select(Document.party_id, DocumentLine.unit_price).join(Document, Document.id == DocumentLine.document_id)
            .join(Party, Party.id == Document.party_id)
            .where(Document.org_id == org_id, DocumentLine.item_id == item_id, Party.kind == PartyKind.SUPPLIER,
                   Document.kind.in_([DocKind.PURCHASE_ORDER, DocKind.RECEIPT]),
                   Document.reverses_document_id.is_(None)))
    if configured:
        stmt = stmt.where(Document.party_id == int(configured))
    row = session.execute(stmt.order_by(Document.business_time.desc(), Document.id.desc()).limit(1)).first()
    price = settings.get("unit_price")
    price = Decimal(str(price)) if price is not None else (row[1] if row and row[1] else None)
    return (int(configured) if configured else (row[0] if row else None)), price


def _slow_mover(weeks: list[DemandWeek], threshold: float, count: int) -> list[float] | None:
    """Return the sell-through of the last ``count`` complete weeks if all are below ``threshold``."""
    recent = [w for w in weeks if w.on_hand is not None][-count:]
    if len(recent) < count or not recent[-1].on_hand or recent[-1].on_hand <= 0:
        return None
    rates = []
    for w in recent:
        stock = float(w.sale) + float(max(w.on_hand or ZERO, ZERO))
        rates.append(float(w.sale) / stock if stock > 0 else 0.0)
    return rates if all(r < threshold for r in rates) else None


def compute(session: Session, org_id: int, forecasts: dict[Key, Forecast], *, as_of: date,
            service_level: float | None = None, lead_time_weeks: float | None = None) -> Computed:
    """Plan every forecast item × site and draft suggestions; writes nothing."""
    cfg = planning_settings(session, org_id)
    stock, coming = available(session, org_id), on_order(session, org_id)
    for key, going in promised_out(session, org_id).items():  # promised to another site already
        stock[key] = stock.get(key, ZERO) - going
    out = Computed()
    for (item_id, site_id), fc in sorted(forecasts.items()):
        own = item_settings(cfg, item_id)
        level = float(service_level if service_level is not None else own["service_level"])
        lead = float(lead_time_weeks if lead_time_weeks is not None else own["lead_time_weeks"])
        have, incoming = stock.get((item_id, site_id), ZERO), coming.get((item_id, site_id), ZERO)
        plan: Plan = forecasting.plan_replenishment(
            fc, on_hand=float(have), on_order=float(incoming), lead_time_weeks=lead, service_level=level,
            review_weeks=float(cfg["review_weeks"]), pack_size=float(own["pack_size"]),
            min_order=float(own["min_order"]))
        out.plans[(item_id, site_id)] = KeyPlan(
            item_id, site_id, have, incoming, qty(sum(fc.mean)), qty(plan.safety_stock), qty(plan.reorder_point),
            qty(plan.order_quantity), level, lead, plan.reason)
    # Surplus above a site's own reorder point + safety stock (sites without a plan: all they hold).
    surplus: dict[Key, Decimal] = {}
    for key, have in stock.items():
        p = out.plans.get(key)
        spare = have - (p.reorder_point + p.safety_stock) if p else have
        if spare > 0:
            surplus[key] = spare
    site_names = dict(session.execute(select(Site.id, Site.name).where(Site.org_id == org_id)).all())
    for _key, p in sorted(out.plans.items()):
        need = p.order_quantity
        if need <= 0:
            continue
        own = item_settings(cfg, p.item_id)
        for (item_id, source), spare in sorted(surplus.items(), key=lambda kv: -kv[1]):
            if item_id != p.item_id or source == p.site_id or need <= 0 or spare <= 0:
                continue
            take = min(spare, need)
            surplus[(item_id, source)] = spare - take
            need -= take
            out.drafts.append(Draft(SuggestionKind.TRANSFER, p.item_id, p.site_id, take,
                                    f"{site_names.get(source, source)} 有富余 {spare.normalize():f}；{p.reason}"[:256],
                                    from_site_id=source))
        # The same rounding as the plan's own order (minimum order first, then whole packs).
        need = qty(Decimal(str(forecasting.round_order(float(need), float(own["pack_size"]),
                                                       float(own["min_order"])))))
        if need > 0:
            party, price = usual_supplier(session, org_id, p.item_id, own)
            if price is None:
                price = _average_cost(session, p.item_id, p.site_id)
            note = "" if party else "（未找到常用供应商，采纳时须指定）"
            out.drafts.append(Draft(SuggestionKind.PURCHASE, p.item_id, p.site_id, need, f"{p.reason}{note}"[:256],
                                    party_id=party, unit_price=price or ZERO))
    weekly = weekly_demand(session, org_id, end=week_start(as_of) - timedelta(days=1))
    threshold, count = float(cfg["slow_sell_through"]), int(cfg["slow_weeks"])
    for key, weeks in sorted(weekly.items()):
        rates = _slow_mover(weeks, threshold, count)
        have = stock.get(key, ZERO)
        if rates is None or have <= 0:
            continue
        excess = surplus.get(key, ZERO)  # above its own needs, after what transfers will take
        if excess > 0:
            shown = "、".join(f"{r:.0%}" for r in rates)
            reason = f"连续 {count} 周售罄率低于 {threshold:.0%}（{shown}），建议清仓 {qty(excess).normalize():f}"
            out.drafts.append(Draft(SuggestionKind.CLEARANCE, key[0], key[1], qty(excess), reason))
    return out


def _average_cost(session: Session, item_id: int, site_id: int) -> Decimal | None:
    balances = list(session.scalars(select(Balance).where(Balance.item_id == item_id, Balance.site_id == site_id)))
    return moving_average_cost(balances)


def live_forecasts(session: Session, org_id: int, run_id: int | None = None, *, from_week: date | None = None
                   ) -> tuple[int | None, dict[Key, Forecast]]:
    """Return (run id, forecasts per item × site) from a stored run (default: the latest completed one).

    Weeks before ``from_week`` (already past when the run is old) are left out.
    """
    if run_id is None:
        run = latest_run(session, org_id)
        run_id = run.id if run else None
    if run_id is None:
        return None, {}
    by_key: dict[Key, list[ForecastLine]] = defaultdict(list)
    stmt = select(ForecastLine).where(ForecastLine.org_id == org_id, ForecastLine.run_id == run_id)
    if from_week is not None:
        stmt = stmt.where(ForecastLine.week >= from_week)
    for line in session.scalars(stmt.order_by(ForecastLine.item_id, ForecastLine.site_id, ForecastLine.week)):
        by_key[(line.item_id, line.site_id)].append(line)
    return run_id, {k: forecast_from_lines(f"{k[0]}:{k[1]}", v) for k, v in by_key.items()}


# -- the operations -----------------------------------------------------------------------------

@dataclass(frozen=True)
class RecomputeReplenishment:
    #: Default: the latest completed forecast run.
    run_id: int | None = None
    as_of: date | None = None


@dataclass(frozen=True)
class SuggestionView:
    suggestion_id: int
    kind: str
    kind_label: str
    item_id: int
    site_id: int
    from_site_id: int | None
    party_id: int | None
    quantity: Decimal
    unit_price: Decimal
    reason: str
    status: str
    status_label: str
    document_id: int | None
    run_id: int | None


@dataclass(frozen=True)
class ReplenishmentResult:
    run_id: int | None
    safety_stocks: int
    suggestions: list[SuggestionView]
    superseded: int


def suggestion_view(s: ReplenishmentSuggestion) -> SuggestionView:
    return SuggestionView(s.id, s.kind.value, KIND_LABELS[s.kind], s.item_id, s.site_id, s.from_site_id, s.party_id,
                          s.quantity, s.unit_price, s.reason, s.status.value, STATUS_LABELS[s.status], s.document_id,
                          s.run_id)


@idempotent("replenishment.recompute")
def recompute_replenishment(session: Session, actor: Actor, cmd: RecomputeReplenishment) -> ReplenishmentResult:
    """Recompute safety stock and reorder points from a forecast run and replace the open suggestions."""
    actor.require(Permission.PLAN)
    as_of = cmd.as_of or local_date_today()
    if cmd.run_id is not None:
        get_owned(session, ForecastRun, cmd.run_id, actor.org_id)  # another organisation's run is simply not found
    run_id, forecasts = live_forecasts(session, actor.org_id, cmd.run_id, from_week=week_start(as_of))
    if cmd.run_id is not None and not forecasts:
        raise ValidationError("该预测批次没有尚未过去的预测周", field="run_id")
    computed = compute(session, actor.org_id, forecasts, as_of=as_of)
    now = utcnow()
    existing = {(s.item_id, s.site_id): s for s in session.scalars(select(SafetyStock).where(
        SafetyStock.org_id == actor.org_id).with_for_update())}
    for key, p in computed.plans.items():
        row = existing.get(key) or SafetyStock(org_id=actor.org_id, item_id=key[0], site_id=key[1])
        row.value, row.reorder_point, row.computed_at, row.run_id = p.safety_stock, p.reorder_point, now, run_id or 0
        row.service_level = Decimal(str(p.service_level)).quantize(Decimal("0.0001"))
        row.lead_time_weeks = Decimal(str(p.lead_time_weeks)).quantize(Decimal("0.0001"))
        session.add(row)
    old = list(session.scalars(select(ReplenishmentSuggestion).where(
        ReplenishmentSuggestion.org_id == actor.org_id,
        ReplenishmentSuggestion.status == SuggestionStatus.PROPOSED).with_for_update()))
    for s in old:
        s.status = SuggestionStatus.SUPERSEDED
    rows = [ReplenishmentSuggestion(org_id=actor.org_id, kind=d.kind, item_id=d.item_id, site_id=d.site_id,
                                    from_site_id=d.from_site_id, party_id=d.party_id, quantity=d.quantity,
                                    unit_price=d.unit_price.quantize(Decimal("0.000001")), reason=d.reason,
                                    status=SuggestionStatus.PROPOSED, run_id=run_id) for d in computed.drafts]
    session.add_all(rows)
    session.flush()
    emit(session, actor.org_id, "replenishment.recomputed", {
        "run_id": run_id, "safety_stocks": len(computed.plans), "superseded": len(old),
        "suggestions": {k.value: sum(1 for r in rows if r.kind == k) for k in SuggestionKind}})
    return ReplenishmentResult(run_id, len(computed.plans), [suggestion_view(r) for r in rows], len(old))


@dataclass(frozen=True)
class AcceptSuggestion:
    suggestion_id: int
    #: Change the suggested quantity, supplier or price before confirming.
    quantity: Decimal | None = None
    party_id: int | None = None
    unit_price: Decimal | None = None
    note: str = ""


@dataclass(frozen=True)
class DismissSuggestion:
    suggestion_id: int
    reason: str = ""


def _open(session: Session, actor: Actor, suggestion_id: int) -> ReplenishmentSuggestion:
    s = get_owned(session, ReplenishmentSuggestion, suggestion_id, actor.org_id, lock=True)
    actor.require(Permission.PLAN, s.site_id)
    if s.status != SuggestionStatus.PROPOSED:
        raise InvalidState(f"该建议{STATUS_LABELS[s.status]}，不能再处理", suggestion_id=s.id, status=s.status.value)
    return s


@idempotent("replenishment.accept")
def accept_suggestion(session: Session, actor: Actor, cmd: AcceptSuggestion) -> SuggestionView:
    """Accept a suggestion: confirm a purchase order or request a transfer (both go through approval)."""
    s = _open(session, actor, cmd.suggestion_id)
    quantity = cmd.quantity if cmd.quantity is not None else s.quantity
    if quantity <= 0:
        raise ValidationError("数量须大于 0", field="quantity")
    item = session.get_one(Item, s.item_id)
    note = f"补货建议 #{s.id}：{s.reason}"[:500]
    payload: dict[str, Any] = {}
    if s.kind == SuggestionKind.PURCHASE:
        party = cmd.party_id or s.party_id
        if party is None:
            raise SupplierRequired(f"{item.name} 没有常用供应商，请选择供应商", field="party_id")
        _require_supplier(session, actor.org_id, party)
        price = cmd.unit_price if cmd.unit_price is not None else s.unit_price
        order = create_order(session, actor, CreateOrder(
            kind=DocKind.PURCHASE_ORDER, site_id=s.site_id, party_id=party,
            lines=(OrderLineIn(item_id=s.item_id, quantity=quantity, unit_price=price),), note=note,
            require_approval=True))  # a forecast's suggestion never becomes a live order on one tap
        s.document_id, s.party_id, s.unit_price = order.document_id, party, price
        payload = {"document_id": order.document_id, "number": order.number}
    elif s.kind == SuggestionKind.TRANSFER:
        transfer = request_transfer(session, actor, RequestTransfer(
            from_site_id=s.from_site_id or 0, to_site_id=s.site_id,
            lines=(TransferLineIn(item_id=s.item_id, quantity=quantity),), reason=note))
        s.document_id = transfer.document_id
        payload = {"document_id": transfer.document_id, "number": transfer.number}
    s.quantity, s.status, s.decided_by, s.decided_at = quantity, SuggestionStatus.ACCEPTED, actor.member_id, utcnow()
    s.decision_note = cmd.note[:256]
    emit(session, actor.org_id, "replenishment.accepted", {
        "suggestion_id": s.id, "kind": s.kind.value, "item_id": s.item_id, "site_id": s.site_id,
        "quantity": format(quantity.normalize(), "f"), **payload}, document_id=s.document_id)
    return suggestion_view(s)


def _require_supplier(session: Session, org_id: int, party_id: int) -> None:
    """Refuse a party that is not an active supplier or farmer of ``org_id`` (the desk pickers' suppliers).

    Another organisation's id gets the same answer as an inactive one: the error says nothing of what exists.
    """
    party = session.scalar(select(Party).where(Party.id == party_id, Party.org_id == org_id))
    if party is None or not party.active or party.kind not in (PartyKind.SUPPLIER, PartyKind.FARMER):
        raise NotASupplier(field="party_id", party_id=party_id)


@idempotent("replenishment.dismiss")
def dismiss_suggestion(session: Session, actor: Actor, cmd: DismissSuggestion) -> SuggestionView:
    """Dismiss a suggestion (kept, with who and why)."""
    s = _open(session, actor, cmd.suggestion_id)
    s.status, s.decided_by, s.decided_at, s.decision_note = (SuggestionStatus.DISMISSED, actor.member_id, utcnow(),
                                                             cmd.reason[:256])
    emit(session, actor.org_id, "replenishment.dismissed", {"suggestion_id": s.id, "reason": cmd.reason})
    return suggestion_view(s)
