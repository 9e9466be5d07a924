"""Order-level margin: for each shipment and sales order, revenue, cost of goods at the cost posted on
its stock moves, allocated extras, gross margin and %; rollups by customer, item, site and month.

Everything is one aggregate in SQL over the shipments of the range (documents of kind shipment, by
business time), each row carrying:

* revenue — the shipment's amount before tax (total − tax, what was booked to 6001);
* cost — minus the sum of its stock moves' value: the cost posted when it shipped, never a re-read
  of today's average;
* extras — its own charges (models.charges) plus its share of its sales order's charges, allocated
  by revenue share (the shipment's revenue × the order's charges ÷ the order's shipped revenue),
  to the fen by cumulative revenue so that an order's shares add up to its charges exactly.

A reversal (a shipment document with ``reverses_document_id``) is a row of its own with the negated
revenue and the reversing moves' value, so a reversed shipment nets to zero; reversing a shipment
reverses its charges too, and a reversed shipment takes no share of its order's charges. Every
rollup is a GROUP BY over the same rows, so the groups of any grouping add up to the same total;
margin % of a group or a total is Σ margin ÷ Σ revenue (weighted), never an average of percentages.
A shipment carries one item (``ship_goods``): the rollup by item takes its moves' item.

Order charges with nothing shipped against them yet (or only reversed shipments) cannot be allocated:
the rollup reports them as ``unallocated_extras`` (by the order's date), outside the groups; an
order's own view counts them in its extras.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, cast

from sqlalchemy import Select, func, literal, select, type_coerce
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import String

from models.catalog import Item
from models.charges import OrderCharge
from models.documents import DocKind, DocStatus, Document
from models.errors import ValidationError
from models.lookup import get_owned
from models.org import Party, Site
from models.queries.receivables import for_a_report
from models.stock import StockMove
from models.timeutil import SHANGHAI
from models.types import Money

ZERO = Decimal("0.00")
GROUPS = ("customer", "item", "site", "month")
GROUP_LABELS = {"customer": "客户", "item": "商品", "site": "地点", "month": "月份"}
#: Longest range one rollup may cover (days): a report, not an export of the whole history.
MAX_RANGE_DAYS = 3 * 366


class local_month(FunctionElement[str]):
    """'YYYY-MM' of a UTC timestamp in Asia/Shanghai (no daylight saving: a fixed +8 h on SQLite)."""

    type = String()
    inherit_cache = True
    name = "local_month"


@compiles(local_month, "sqlite")
def _month_sqlite(element: local_month, compiler: Any, **kw: Any) -> str:
    (moment,) = list(element.clauses)
    return f"strftime('%Y-%m', {compiler.process(moment, **kw)}, '+8 hours')"


@compiles(local_month, "postgresql")
def _month_postgresql(element: local_month, compiler: Any, **kw: Any) -> str:
    (moment,) = list(element.clauses)
    return f"to_char({compiler.process(moment, **kw)} AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM')"


class share_of(FunctionElement[Decimal]):
    """``charges × revenue ÷ order revenue`` rounded half-up to the fen (all three non-negative)."""

    type = Money()
    inherit_cache = True
    name = "share_of"


@compiles(share_of, "sqlite")
def _share_sqlite(element: share_of, compiler: Any, **kw: Any) -> str:
    # Money is stored as integer fen on SQLite: integer division of (2cr + R) by 2R is round-half-up.
    c, r, total = (compiler.process(x, **kw) for x in element.clauses)
    return f"((2 * {c} * {r} + {total}) / (2 * {total}))"


@compiles(share_of, "postgresql")
def _share_postgresql(element: share_of, compiler: Any, **kw: Any) -> str:
    c, r, total = (compiler.process(x, **kw) for x in element.clauses)
    return f"round({c} * {r} / {total}, 2)"


@dataclass(frozen=True)
class Figures:
    revenue: Decimal
    cost: Decimal
    extras: Decimal
    margin: Decimal
    #: margin ÷ revenue × 100, to 0.1; None when there is no revenue.
    margin_pct: Decimal | None


def figures(revenue: Decimal, cost: Decimal, extras: Decimal) -> Figures:
    """The margin and weighted % of summed revenue, cost and extras."""
    margin = revenue - cost - extras
    return Figures(revenue, cost, extras, margin, pct(margin, revenue))


def pct(part: Decimal, whole: Decimal) -> Decimal | None:
    if not whole:
        return None
    return (part * 100 / whole).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def _day_start(day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=SHANGHAI).astimezone(UTC)


def _rows(org_id: int, where: Callable[[Any], list[Any]], orders: list[int] | None = None) -> Any:
    """One row per shipment document (reversals included) for which ``where(d)`` holds (``d`` the
    shipment documents): its attributes and its revenue, cost and extras (a subquery). ``orders``:
    the only sales orders whose charges matter (one document's view), else all of the org's."""
    d = aliased(Document, name="d")
    original = aliased(Document, name="orig")  # the shipment a reversal undoes (or the row itself)
    docs = (
        select(d.id.label("id"), original.id.label("key_id"), original.source_document_id.label("order_id"),
               d.party_id.label("party_id"), d.site_id.label("site_id"), local_month(d.business_time).label("month"),
               d.business_time.label("business_time"),
               type_coerce(d.total_amount - d.tax_amount, Money()).label("revenue"))
        .join(original, original.id == func.coalesce(d.reverses_document_id, d.id))
        .where(d.org_id == org_id, d.kind == DocKind.SHIPMENT, *where(d))
        .cte("docs")
    )
    # Driven from the range's documents (each one's moves by the document_id index), not from the ledger.
    moves = (select(docs.c.id.label("id"), func.sum(StockMove.value).label("value"),
                    func.min(StockMove.item_id).label("item_id"))
             .select_from(docs).join(StockMove, StockMove.document_id == docs.c.id)
             .group_by(docs.c.id).subquery("m"))
    own = (select(docs.c.id.label("id"), func.sum(OrderCharge.amount).label("amount"))
           .select_from(docs).join(OrderCharge, OrderCharge.document_id == docs.c.id)
           .group_by(docs.c.id).subquery("own"))
    # Only the charges of the orders these shipments fulfil: the rest of the history is not read.
    order_ch = _order_charges(org_id, orders if orders is not None else select(docs.c.order_id)).subquery("oc")
    shares = _order_shares(org_id, order_ch).subquery("shares")
    revenue = docs.c.revenue
    share = func.coalesce(shares.c.share, literal(ZERO, Money()))
    return (
        select(docs.c.id, docs.c.key_id, docs.c.order_id, docs.c.party_id, docs.c.site_id,
               moves.c.item_id.label("item_id"), docs.c.month, docs.c.business_time,
               revenue.label("revenue"),
               type_coerce(-func.coalesce(moves.c.value, 0), Money()).label("cost"),
               type_coerce(func.coalesce(own.c.amount, 0) + share, Money()).label("extras"))
        .select_from(docs)
        .outerjoin(moves, moves.c.id == docs.c.id)
        .outerjoin(own, own.c.id == docs.c.id)
        .outerjoin(shares, shares.c.id == docs.c.id)
        .subquery("facts")
    )


def _order_charges(org_id: int, orders: list[int] | Select[Any] | None = None) -> Select[int, Decimal]:
    """Sales orders with charges (of ``orders`` if given) and their net charges (order id, amount)."""
    order = aliased(Document, name="o")
    stmt = (select(OrderCharge.document_id.label("order_id"), func.sum(OrderCharge.amount).label("amount"))
            .join(order, order.id == OrderCharge.document_id)
            .where(OrderCharge.org_id == org_id, order.kind == DocKind.SALES_ORDER)
            .group_by(OrderCharge.document_id))
    return stmt.where(OrderCharge.document_id.in_(orders)) if orders is not None else stmt


def _order_revenue(org_id: int, order_ch: Any) -> Select[int | None, Decimal]:
    """The standing shipped revenue (before tax) of each sales order that has charges."""
    s = aliased(Document, name="s")
    return (select(s.source_document_id.label("order_id"),
                   type_coerce(func.sum(s.total_amount - s.tax_amount), Money()).label("revenue"))
            .where(s.org_id == org_id, s.kind == DocKind.SHIPMENT, s.status == DocStatus.POSTED,
                   s.reverses_document_id.is_(None), s.source_document_id.in_(select(order_ch.c.order_id)))
            .group_by(s.source_document_id))


def _order_shares(org_id: int, order_ch: Any) -> Select[Any]:
    """Each standing shipment's share of its order's charges (shipment id, share). Allocated by
    cumulative revenue — share = C·cum/R − C·(cum − r)/R, each term rounded to the fen — so the
    shares of an order add up to its charges exactly, whatever the rounding."""
    s = aliased(Document, name="s")
    rev = s.total_amount - s.tax_amount
    cum = func.sum(rev).over(partition_by=s.source_document_id, order_by=s.id)
    ranked = (select(s.id.label("id"), s.source_document_id.label("order_id"), cum.label("cum"),
                     (cum - rev).label("prev"), func.sum(rev).over(partition_by=s.source_document_id).label("total"))
              .where(s.org_id == org_id, s.kind == DocKind.SHIPMENT, s.status == DocStatus.POSTED,
                     s.reverses_document_id.is_(None), s.source_document_id.in_(select(order_ch.c.order_id)))
              .subquery("ranked"))
    return (select(ranked.c.id, type_coerce(share_of(order_ch.c.amount, ranked.c.cum, ranked.c.total)
                                            - share_of(order_ch.c.amount, ranked.c.prev, ranked.c.total),
                                            Money()).label("share"))
            .join(order_ch, order_ch.c.order_id == ranked.c.order_id)
            .where(ranked.c.total > 0))


def _sums(facts: Any) -> list[Any]:
    return [type_coerce(func.sum(facts.c.revenue), Money()), type_coerce(func.sum(facts.c.cost), Money()),
            type_coerce(func.sum(facts.c.extras), Money())]


@dataclass(frozen=True)
class ShipmentMargin:
    document_id: int
    number: str
    figures: Figures
    #: True when the shipment was reversed (its row then nets to zero).
    reversed: bool


@dataclass(frozen=True)
class DocumentMargin:
    document_id: int
    number: str
    kind: str
    party_id: int | None
    party_name: str
    #: Shipments (the shipment itself, or the order's), each with its reversal folded in.
    shipments: list[ShipmentMargin]
    #: The order's charges not allocated to any standing shipment (nothing shipped yet, or all reversed).
    unallocated_extras: Decimal
    figures: Figures


def document_margin(session: Session, org_id: int, document_id: int) -> DocumentMargin:
    """The margin of one shipment or one sales order (all its shipments, any date)."""
    doc = get_owned(session, Document, document_id, org_id)
    if doc.kind == DocKind.SHIPMENT and doc.reverses_document_id is not None:
        doc = get_owned(session, Document, doc.reverses_document_id, org_id)  # a reversal: its shipment's view
    if doc.kind == DocKind.SHIPMENT:
        keys, orders = [doc.id], [doc.source_document_id] if doc.source_document_id is not None else []
    elif doc.kind == DocKind.SALES_ORDER:
        keys, orders = list(session.scalars(select(Document.id).where(
            Document.org_id == org_id, Document.source_document_id == doc.id))), [doc.id]
    else:
        raise ValidationError(f"{doc.number} 不是销售订单或出库单", field="document_id")
    # The shipments and their reversals, by id (two index lookups): a handful of rows.
    ids = keys + list(session.scalars(select(Document.id).where(
        Document.org_id == org_id, Document.reverses_document_id.in_(keys)))) if keys else []
    facts = _rows(org_id, lambda d: [d.id.in_(ids)], orders)
    rows = cast(list[tuple[int, Decimal, Decimal, Decimal]], session.execute(
        select(facts.c.key_id, *_sums(facts)).group_by(facts.c.key_id).order_by(facts.c.key_id)).all())
    numbers = dict(cast(list[tuple[int, str]], session.execute(select(Document.id, Document.number).where(
        Document.id.in_([r[0] for r in rows]))).all())) if rows else {}
    reversed_ids = set(session.scalars(select(Document.reverses_document_id).where(
        Document.reverses_document_id.in_([r[0] for r in rows])))) if rows else set()
    shipments = [ShipmentMargin(key, numbers[key], figures(rev or ZERO, cost or ZERO, extras or ZERO),
                                key in reversed_ids) for key, rev, cost, extras in rows]
    unallocated = ZERO
    if doc.kind == DocKind.SALES_ORDER:
        charged = session.scalar(select(type_coerce(func.sum(OrderCharge.amount), Money())).where(
            OrderCharge.org_id == org_id, OrderCharge.document_id == doc.id)) or ZERO
        unallocated = charged - _allocated(shipments, doc, session, org_id)
    revenue = sum((s.figures.revenue for s in shipments), ZERO)
    cost = sum((s.figures.cost for s in shipments), ZERO)
    extras = sum((s.figures.extras for s in shipments), ZERO) + unallocated
    party = session.get(Party, doc.party_id) if doc.party_id else None
    return DocumentMargin(doc.id, doc.number, doc.kind.value, doc.party_id, party.name if party else "",
                          shipments, unallocated, figures(revenue, cost, extras))


def _allocated(shipments: list[ShipmentMargin], order: Document, session: Session, org_id: int) -> Decimal:
    """What the order's shipments took of its charges (their extras less their own charges)."""
    if not shipments:
        return ZERO
    own = session.scalar(select(type_coerce(func.sum(OrderCharge.amount), Money())).where(
        OrderCharge.org_id == org_id, OrderCharge.document_id.in_(
            select(Document.id).where(Document.org_id == org_id, Document.source_document_id == order.id)))) or ZERO
    return sum((s.figures.extras for s in shipments), ZERO) - own


def document_id_by_number(session: Session, org_id: int, number: str) -> int | None:
    """The org's document with this human number (XS-…, CK-…), if any."""
    return session.scalar(select(Document.id).where(Document.org_id == org_id, Document.number == number))


@dataclass(frozen=True)
class RollupRow:
    key: str
    label: str
    figures: Figures


@dataclass(frozen=True)
class MarginRollup:
    group_by: str
    date_from: date
    date_to: date
    rows: list[RollupRow]
    totals: Figures
    #: Charges on orders of the range that no standing shipment carries (not in the rows or totals).
    unallocated_extras: Decimal
    shipments: int


def margin_rollup(session: Session, org_id: int, date_from: date, date_to: date,
                  group_by: str = "customer") -> MarginRollup:
    """Margin of the shipments dated ``date_from``..``date_to`` (both included, Asia/Shanghai) by
    customer, item, site or month, largest margin first (months in order); totals weighted."""
    if group_by not in GROUPS:
        raise ValidationError("分组只能是 customer、item、site 或 month", field="group_by")
    if date_to < date_from:
        raise ValidationError("开始日期不能晚于结束日期", field="date_from")
    if (date_to - date_from).days > MAX_RANGE_DAYS:
        raise ValidationError("日期范围最长三年", field="date_to")
    start, end = _day_start(date_from), _day_start(date_to + timedelta(days=1))
    facts = _rows(org_id, lambda d: [d.business_time >= start, d.business_time < end])
    column = {"customer": facts.c.party_id, "item": facts.c.item_id, "site": facts.c.site_id,
              "month": facts.c.month}[group_by]
    for_a_report(session)
    found = cast(list[tuple[Any, int, Decimal, Decimal, Decimal]], session.execute(
        select(column, func.count(), *_sums(facts)).group_by(column)).all())
    labels = _labels(session, org_id, group_by, [r[0] for r in found])
    rows = [RollupRow(str(key) if key is not None else "", labels.get(key, "（无）"),
                      figures(rev or ZERO, cost or ZERO, extras or ZERO)) for key, _n, rev, cost, extras in found]
    rows.sort(key=(lambda r: r.key) if group_by == "month" else (lambda r: (-r.figures.margin, r.label)))
    totals = figures(sum((r.figures.revenue for r in rows), ZERO), sum((r.figures.cost for r in rows), ZERO),
                     sum((r.figures.extras for r in rows), ZERO))
    return MarginRollup(group_by, date_from, date_to, rows, totals,
                        _unallocated(session, org_id, start, end), sum(r[1] for r in found))


def _labels(session: Session, org_id: int, group_by: str, keys: list[Any]) -> dict[Any, str]:
    if group_by == "month":
        return {k: k for k in keys if k is not None}
    models: dict[str, type[Party] | type[Item] | type[Site]] = {"customer": Party, "item": Item, "site": Site}
    model = models[group_by]
    ids = [k for k in keys if k is not None]
    if not ids:
        return {}
    return dict(cast(list[tuple[int, str]], session.execute(
        select(model.id, model.name).where(model.org_id == org_id, model.id.in_(ids))).all()))


def _unallocated(session: Session, org_id: int, start: datetime, end: datetime) -> Decimal:
    """Charges of the range's sales orders (by order date) with no standing shipped revenue."""
    order_ch = _order_charges(org_id).subquery("oc")
    order_rev = _order_revenue(org_id, order_ch).subquery("orev")
    return session.scalar(
        select(type_coerce(func.sum(order_ch.c.amount), Money()))
        .join(Document, Document.id == order_ch.c.order_id)
        .outerjoin(order_rev, order_rev.c.order_id == order_ch.c.order_id)
        .where(Document.business_time >= start, Document.business_time < end,
               func.coalesce(order_rev.c.revenue, 0) <= 0)) or ZERO


__all__ = ["GROUPS", "GROUP_LABELS", "DocumentMargin", "Figures", "MarginRollup", "RollupRow", "ShipmentMargin",
           "document_id_by_number", "document_margin", "figures", "margin_rollup", "pct"]
