"""经营推演: what a draft sales order would earn and what it would do to the customer's exposure and
to cash, before anyone commits to it — at the quoted prices and at up to three alternatives.

* Revenue: each line's quantity (in the item's base unit) × price, to the fen.
* Cost: at the current moving average of the item at the site, Σ value ÷ Σ on hand over its lots
  (models.stock.Balance) — what the shipment would post today. A line whose item holds no stock
  there has no average: its cost counts as zero and ``cost_known`` is False.
* Alternatives are **percent changes applied to every line's price** (−5 → every price 5 % lower),
  so a salesperson can ask "what if I give 3 % off" in one number.
* Exposure: the customer's balance on the receivable control accounts (1122, 2203 — the open
  receivables less unapplied advances, models.subledger), plus what its other confirmed sales orders
  have still to ship, plus this order's amount, against ``Party.credit_limit``.
* Cash: the 72-hour cash position comes from a hook (:data:`CashPosition`); by default
  :func:`cash_position_72h`, the 72-hour cash forecast's closing figure. The order adds to it only
  if the customer's credit term is three days or less (it would fall due inside the window).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import cast

from sqlalchemy import func, select, type_coerce
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.base import utcnow
from models.catalog import Item
from models.documents import DocKind, DocStatus, Document, DocumentLine
from models.errors import PermissionDenied, ValidationError
from models.finance import VoucherLine
from models.ledger import COST_QUANTUM, money
from models.lookup import get_owned
from models.operations.common import positive_setting
from models.org import Org, Party, PartyKind, Site
from models.queries.cash_forecast import cash_forecast
from models.queries.margin import pct
from models.stock import Balance
from models.subledger import SIDE_ACCOUNTS, Side, signed_amount
from models.types import Money
from models.units import to_base

ZERO = Decimal("0.00")
MAX_ALTERNATIVES = 3
MAX_LINES = 100
#: Orders whose margin % falls below this need approval; org setting ``margin_approval_threshold_pct``.
MARGIN_APPROVAL_THRESHOLD_PCT = Decimal(5)

#: "Cash and bank projected 72 hours ahead" for an org, or None when nobody can say.
CashPosition = Callable[[Session, int], Decimal | None]
def cash_position_72h(session: Session, org_id: int) -> Decimal:
    """Cash and bank projected 72 hours from now (models.queries.cash_forecast, the same figure as
    /api/v1/finance/cash-forecast and 现金 三天)."""
    return cash_forecast(session, org_id, utcnow(), hours=72, items_limit=0).closing


def no_cash_position(_session: Session, _org_id: int) -> Decimal | None:
    """The hook for callers that need no cash figure (an order's approval check)."""
    return None


@dataclass(frozen=True)
class DraftLine:
    item_id: int
    quantity: Decimal
    unit: str | None = None
    #: Per base unit, before tax (as a sales order's lines are priced).
    unit_price: Decimal = Decimal(0)


@dataclass(frozen=True)
class DraftOrder:
    party_id: int
    site_id: int
    lines: tuple[DraftLine, ...]
    #: Up to three alternatives, each a % change of every line's price (−5: 5 % lower).
    price_changes: tuple[Decimal, ...] = ()


@dataclass(frozen=True)
class PricedLine:
    item_id: int
    item_name: str
    #: In the item's base unit, and the price per base unit.
    quantity: Decimal
    base_unit: str
    unit_price: Decimal
    revenue: Decimal
    #: Moving average per base unit at the site; None: no stock there to cost it at.
    average_cost: Decimal | None
    cost: Decimal
    margin: Decimal
    margin_pct: Decimal | None


@dataclass(frozen=True)
class Exposure:
    #: The customer's balance on 1122/2203 now (open receivables less unapplied advances).
    open_receivables: Decimal
    #: What the customer's other confirmed sales orders still have to ship, at their prices (before
    #: tax): owed as soon as it ships, so it counts against the limit too.
    open_orders: Decimal
    order_amount: Decimal
    after: Decimal
    credit_limit: Decimal | None
    over_limit: bool
    #: What is left under the limit after the order (negative: over it); None without a limit.
    headroom: Decimal | None


@dataclass(frozen=True)
class Scenario:
    label: str
    #: % change of every price (0: as quoted).
    price_change_pct: Decimal
    revenue: Decimal
    cost: Decimal
    margin: Decimal
    margin_pct: Decimal | None
    exposure: Exposure
    cash_72h_after: Decimal | None
    needs_approval: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class MarginPreview:
    party_id: int
    party_name: str
    site_id: int
    lines: list[PricedLine]
    #: The quoted prices first, then each alternative.
    scenarios: list[Scenario]
    cost_known: bool
    threshold_pct: Decimal
    #: The projected cash position in 72 h without this order (None: no forecast available).
    cash_72h: Decimal | None
    credit_days: int
    notes: list[str] = field(default_factory=list)

    @property
    def quoted(self) -> Scenario:
        return self.scenarios[0]


def margin_preview(session: Session, actor: Actor, draft: DraftOrder,
                   cash_position: CashPosition = cash_position_72h) -> MarginPreview:
    """Preview a draft sales order (nothing is saved).

    The preview shows the site's costs, so it is for who may sell at that site or who reads the finances
    there: every channel (console, API) gets the same gate from here. PermissionDenied otherwise.
    """
    if not (actor.can(Permission.ORDER_SALES, draft.site_id) or actor.can(Permission.VIEW_FINANCE, draft.site_id)):
        raise PermissionDenied("没有权限：查看该地点的经营推演", permission=Permission.ORDER_SALES.value,
                               site_id=draft.site_id)
    org_id = actor.org_id
    party = get_owned(session, Party, draft.party_id, org_id)
    if party.kind != PartyKind.CUSTOMER:
        raise ValidationError(f"{party.name} 不是客户", field="party_id")
    site = get_owned(session, Site, draft.site_id, org_id)
    if not draft.lines or len(draft.lines) > MAX_LINES:
        raise ValidationError(f"须有 1 到 {MAX_LINES} 行", field="lines")
    if len(draft.price_changes) > MAX_ALTERNATIVES:
        raise ValidationError(f"最多 {MAX_ALTERNATIVES} 个备选价格", field="price_changes")
    for change in draft.price_changes:
        if not isinstance(change, Decimal) or not change.is_finite() or not Decimal(-100) < change <= Decimal(1000):
            raise ValidationError("调价幅度须在 -100% 到 1000% 之间", field="price_changes")
    resolved = []
    for line in draft.lines:
        item = get_owned(session, Item, line.item_id, org_id)
        base = to_base(session, item, line.quantity, line.unit)
        if base <= 0:
            raise ValidationError("数量必须大于零", field="quantity")
        if not isinstance(line.unit_price, Decimal) or not line.unit_price.is_finite() or line.unit_price < 0:
            raise ValidationError("单价不能为负", field="unit_price")
        resolved.append((item, base, line.unit_price))
    return preview_of(session, org_id, party, site.id, resolved, draft.price_changes, cash_position)


def preview_of(session: Session, org_id: int, party: Party, site_id: int,
               lines: list[tuple[Item, Decimal, Decimal]], price_changes: tuple[Decimal, ...] = (),
               cash_position: CashPosition = cash_position_72h, *,
               this_order_id: int | None = None) -> MarginPreview:
    """The preview of lines already resolved (item, quantity in base units, price per base unit):
    shared by the API's draft preview and create_order's approval check (``this_order_id``: the
    order being previewed, already written, is not one of the customer's other orders)."""
    averages = _averages(session, site_id, [item.id for item, _q, _p in lines])
    open_now = (receivable_balance(session, org_id, party.id),
                unshipped_orders(session, org_id, party.id, this_order_id))
    threshold = margin_threshold(session, org_id)
    cash = cash_position(session, org_id)
    priced = []
    for item, qty, price in lines:
        avg = averages.get(item.id)
        revenue = money(qty * price)
        cost = money(qty * avg) if avg is not None else ZERO
        priced.append(PricedLine(item.id, item.name, qty, item.base_unit, price, revenue, avg, cost,
                                 revenue - cost, pct(revenue - cost, revenue)))
    scenarios = [_scenario(party, lines, averages, Decimal(0), open_now, threshold, cash)]
    scenarios += [_scenario(party, lines, averages, change, open_now, threshold, cash) for change in price_changes]
    notes = []
    if any(p.average_cost is None for p in priced):
        notes.append("部分商品在该地点无库存，成本按 0 计")
    if cash is None:
        notes.append("现金预测暂不可用")
    return MarginPreview(party.id, party.name, site_id, priced, scenarios, all(p.average_cost is not None
                                                                             for p in priced),
                         threshold, cash, party.credit_days, notes)


def _scenario(party: Party, lines: list[tuple[Item, Decimal, Decimal]], averages: dict[int, Decimal],
              change: Decimal, open_now: tuple[Decimal, Decimal], threshold: Decimal,
              cash: Decimal | None) -> Scenario:
    factor = 1 + change / 100
    revenue = sum((money(qty * price * factor) for _i, qty, price in lines), ZERO)
    cost = sum((money(qty * averages[item.id]) for item, qty, _p in lines if item.id in averages), ZERO)
    margin = revenue - cost
    margin_pct = pct(margin, revenue)
    receivables, orders = open_now
    after = receivables + orders + revenue
    limit = party.credit_limit
    over = limit is not None and after > limit
    exposure = Exposure(receivables, orders, revenue, after, limit, over,
                        limit - after if limit is not None else None)
    reasons = []
    if over:
        reasons.append(f"超出信用额度 {limit}")
    if margin_pct is not None and margin_pct < threshold:
        reasons.append(f"毛利率 {margin_pct}% 低于 {threshold.normalize():f}%")
    inflow = revenue if party.credit_days <= 3 else ZERO
    label = "报价" if not change else f"{'+' if change > 0 else ''}{change.normalize():f}%"
    return Scenario(label, change, revenue, cost, margin, margin_pct, exposure,
                    cash + inflow if cash is not None else None, bool(reasons), tuple(reasons))


def _averages(session: Session, site_id: int, item_ids: list[int]) -> dict[int, Decimal]:
    """Moving average per base unit of each item at the site (items holding stock there)."""
    rows = cast(list[tuple[int, Decimal, Decimal]], session.execute(
        select(Balance.item_id, func.sum(Balance.value), func.sum(Balance.on_hand))
        .where(Balance.site_id == site_id, Balance.item_id.in_(item_ids), Balance.on_hand > 0)
        .group_by(Balance.item_id)).all())
    # Rounded as the ledger rounds a moving average (ledger.COST_QUANTUM): 90.000000, never 9E+1.
    return {item_id: (value / on_hand).quantize(COST_QUANTUM, rounding=ROUND_HALF_UP)
            for item_id, value, on_hand in rows if on_hand and on_hand > 0}


def receivable_balance(session: Session, org_id: int, party_id: int) -> Decimal:
    """The customer's balance on the receivable control accounts (charges less credits)."""
    return session.scalar(
        select(type_coerce(func.sum(signed_amount(Side.RECEIVABLE)), Money()))
        .where(VoucherLine.org_id == org_id, VoucherLine.party_id == party_id,
               VoucherLine.account_code.in_(SIDE_ACCOUNTS[Side.RECEIVABLE]))) or ZERO


def unshipped_orders(session: Session, org_id: int, party_id: int, exclude_id: int | None = None) -> Decimal:
    """What the customer's confirmed (or partly shipped) sales orders have still to ship, at their
    prices, rounded to the fen per line."""
    rows = session.execute(
        select(DocumentLine.quantity, DocumentLine.done_quantity, DocumentLine.unit_price)
        .join(Document, Document.id == DocumentLine.document_id)
        .where(Document.org_id == org_id, Document.party_id == party_id, Document.kind == DocKind.SALES_ORDER,
               Document.status.in_([DocStatus.CONFIRMED, DocStatus.PARTIAL]),
               *([Document.id != exclude_id] if exclude_id is not None else []))).all()
    return sum((money(max(qty - done, Decimal(0)) * price) for qty, done, price in rows), ZERO)


def margin_threshold(session: Session, org_id: int) -> Decimal:
    settings = session.get_one(Org, org_id).settings or {}
    return positive_setting(settings.get("margin_approval_threshold_pct"), MARGIN_APPROVAL_THRESHOLD_PCT)


def preview_lines(preview: MarginPreview) -> list[str]:
    """The preview as short lines for an approval card or a chat reply."""
    q = preview.quoted
    limit = f"{q.exposure.credit_limit}" if q.exposure.credit_limit is not None else "不限"
    out = [f"毛利 {q.margin} 元，毛利率 {q.margin_pct if q.margin_pct is not None else '—'}%",
           f"应收 {q.exposure.open_receivables}"
           + (f" + 未发货订单 {q.exposure.open_orders}" if q.exposure.open_orders else "")
           + f" + 本单 {q.exposure.order_amount} = {q.exposure.after}，额度 {limit}"
           + ("（超额度）" if q.exposure.over_limit else "")]
    out += [f"{s.label}：毛利 {s.margin}（{s.margin_pct if s.margin_pct is not None else '—'}%）"
            for s in preview.scenarios[1:]]
    return out

