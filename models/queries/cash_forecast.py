"""The 72-hour cash forecast: cash and bank now, and what is expected to come in and go out, hour by
hour (Asia/Shanghai hours), each figure traced to its documents.

The rules (what a finance officer reads next to the figures):

- **Opening**: Σ of the voucher lines on 1001 库存现金 and 1002 银行存款 dated up to the start's day.
- **Window**: the local hour holding ``start`` and the ``hours - 1`` hours after it.
- **Receivables due** (inflow): open charges on the receivable control accounts (models.subledger: a
  line's amount less what was matched against it) fall due on document date + the party's credit
  days, at :data:`DUE_HOUR` local time. Receivables already past due are *not* assumed to arrive:
  they are shown apart as 已逾期 (total, how many customers, the five owing most) and stay out of
  the projection.
- **Payables due** (outflow): the same on the payable side, suppliers only — what a farmer is owed
  comes from the farmer's settlements (next rule), which know the prepayment/balance stages.
- Only items naming a party are forecast: a control-account line without one (opening stock, a
  correction) is nobody's to pay or collect on a date.
- **Farmer money due** (outflow): settlements waiting for their prepayment (all of the delivery
  once its lot has passed QC, as settlement pays it) or, after QC, their balance, never more than
  what is still open of the delivery's payables (``FarmerSettlement.payable_open``: she may have been
  paid with a 付款单); due at the delivery's time + the farmer's credit days.
- **Purchase orders** (outflow): confirmed or partly received purchase orders that are approved (or
  never needed approval), for what is not received yet (Σ per line of open quantity × price, to the
  fen); due at the order's time + the supplier's credit days (orders carry no expected date).
- **Prudence** (谨慎性): money we owe that is already due (a payable past due, farmer money owed since
  the delivery, an order whose date has passed) is assumed to go out in the first hour, flagged
  ``overdue``; money owed to us that is late is not counted on. The forecast errs towards too little
  cash, never too much.

Open items are found in SQL per kind (the open amount is an aggregate of the matches; only the items
that count come back, and overdue receivables as sums per customer: all that is open less what is
not yet due, so only recent lines are read one by one) — never by loading all documents. Money is
Decimal throughout; nothing is rounded here but the orders' open part, once.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Date, and_, case, func, literal, or_, select, type_coerce
from sqlalchemy.orm import Session

from models.approvals import ApprovalRequest, ApprovalStatus
from models.cash import threshold_of
from models.documents import DocKind, DocStatus, Document, DocumentLine
from models.errors import ValidationError
from models.finance import STILL_OPEN, FarmerSettlement, OpenItemMatch, SettlementStatus, VoucherLine
from models.ledger import money
from models.org import Org, Party, PartyKind
from models.queries.receivables import for_a_report
from models.stock import Lot, QcStatus
from models.subledger import SIDE_ACCOUNTS, Side, days_between, signed_amount
from models.timeutil import SHANGHAI
from models.types import Money, UTCDateTime

#: Receivables, payables and orders fall due at this local hour of their due day.
DUE_HOUR = 10
#: Accounts that are cash: 库存现金 and 银行存款.
CASH_ACCOUNTS = ("1001", "1002")
MAX_HOURS = 168
ZERO = Decimal("0.00")
#: How many of the overdue receivables are listed by name (the rest are in the total and count).
OVERDUE_LISTED = 5


class FlowKind(enum.StrEnum):
    RECEIVABLE = "receivable"
    PAYABLE = "payable"
    FARMER = "farmer"
    PURCHASE_ORDER = "purchase_order"


KIND_LABELS = {FlowKind.RECEIVABLE: "应收到期", FlowKind.PAYABLE: "应付到期", FlowKind.FARMER: "农户货款",
               FlowKind.PURCHASE_ORDER: "采购订单"}
#: Inflows; every other kind is an outflow.
INFLOWS = frozenset({FlowKind.RECEIVABLE})


@dataclass(frozen=True)
class CashItem:
    """One document's contribution to the forecast."""

    kind: str
    direction: str  # "in" | "out"
    document_id: int | None
    number: str | None
    party_id: int | None
    party_name: str
    amount: Decimal  # > 0
    #: When it is expected (Asia/Shanghai); for an overdue outflow, when it fell due.
    expected_at: datetime
    #: The hour of the window it is counted in (0 = the first).
    hour: int
    #: Due before the window: an outflow counted in the first hour; a receivable not counted at all.
    overdue: bool
    note: str = ""


@dataclass(frozen=True)
class CashHour:
    hour: int
    starts_at: datetime
    inflow: Decimal
    outflow: Decimal
    #: Projected cash and bank at the end of the hour.
    balance: Decimal


@dataclass(frozen=True)
class OverdueParty:
    party_id: int
    party_name: str
    amount: Decimal


@dataclass(frozen=True)
class OverdueReceivables:
    """已逾期应收: owed to us and late, by customer; shown, not assumed to arrive (``应收 名称`` lists
    the documents)."""

    total: Decimal
    parties: int
    largest: list[OverdueParty]


@dataclass(frozen=True)
class CashForecast:
    #: The moment the forecast is for ("now"): the opening is cash and bank then.
    as_of: datetime
    #: The window: from the local hour holding ``as_of``, ``hours`` hours.
    start: datetime
    end: datetime
    hours: int
    due_hour: int
    cash: Decimal
    bank: Decimal
    opening: Decimal
    inflow: Decimal
    outflow: Decimal
    closing: Decimal
    #: The lowest projected balance (the opening counts: it may be the lowest) and when it is reached.
    lowest: Decimal
    lowest_at: datetime
    #: Per kind (FlowKind values): the sum of its items in the window.
    totals: dict[str, Decimal]
    by_hour: list[CashHour]
    #: In the forecast's order (hour, then when); only the first ``items_limit`` when the caller asked so.
    items: list[CashItem]
    overdue_receivables: OverdueReceivables
    #: The org's minimum (yuan) and the first time the projection is below it (None: never / no minimum).
    threshold: Decimal | None
    first_below_at: datetime | None


def window_of(start: datetime, hours: int) -> tuple[datetime, datetime]:
    """The window's first local hour and its end."""
    if isinstance(hours, bool) or not isinstance(hours, int) or not 1 <= hours <= MAX_HOURS:
        raise ValidationError(f"小时数应在 1 到 {MAX_HOURS} 之间", field="hours")
    if start.tzinfo is None:
        raise ValidationError("开始时间须带时区", field="start")
    first = start.astimezone(SHANGHAI).replace(minute=0, second=0, microsecond=0)
    return first, first + timedelta(hours=hours)


def cash_forecast(session: Session, org_id: int, start: datetime, hours: int = 72, *,
                  items_limit: int | None = None) -> CashForecast:
    """Cash and bank at ``start`` and their projection over the next ``hours`` hours.

    ``items_limit``: list only the first that many items (a page showing a few): the figures are the
    same, but farmer deliveries long overdue are summed in SQL instead of read one by one (at 100,000
    documents tens of thousands wait). None: every item (the API, the export)."""
    first, end = window_of(start, hours)
    for_a_report(session)
    cash, bank = _cash_now(session, org_id, first)
    opening = cash + bank
    # Lines dated before this cannot fall due inside the window (nobody has longer credit).
    since = first.date() - timedelta(days=session.scalar(
        select(func.max(Party.credit_days)).where(Party.org_id == org_id)) or 0)
    found, overdue = _receivables(session, org_id, first, end, since)
    found += _payables(session, org_id, first, end, since)
    farmers, listed_only, lump = _farmer_items(session, org_id, first, end, items_limit)
    found += farmers
    found += _order_items(session, org_id, first, end)
    items = sorted(found + listed_only,
                   key=lambda i: (i.hour, i.expected_at, i.kind, i.number or "", i.document_id or 0))
    if items_limit is not None:
        items = items[:items_limit]

    by_hour: list[CashHour] = []
    inflow = [ZERO] * hours
    outflow = [ZERO] * hours
    outflow[0] += lump  # overdue farmer money summed in SQL: prudence puts it in the first hour
    for item in found:
        if item.direction == "in":
            inflow[item.hour] += item.amount
        else:
            outflow[item.hour] += item.amount
    balance = opening
    as_of = start.astimezone(SHANGHAI)
    lowest, lowest_at = opening, as_of
    threshold = threshold_of(session.scalar(select(Org.settings).where(Org.id == org_id)))
    first_below = lowest_at if threshold is not None and opening < threshold else None
    for h in range(hours):
        balance += inflow[h] - outflow[h]
        at = first + timedelta(hours=h)
        by_hour.append(CashHour(h, at, inflow[h], outflow[h], balance))
        when = max(at, as_of)  # what is due already goes out now, not earlier this hour
        if balance < lowest:
            lowest, lowest_at = balance, when
        if first_below is None and threshold is not None and balance < threshold:
            first_below = when
    totals = {k.value: sum((i.amount for i in found if i.kind == k), ZERO) for k in FlowKind}
    totals[FlowKind.FARMER.value] += lump
    total_in = sum(inflow, ZERO)
    total_out = sum(outflow, ZERO)
    return CashForecast(
        as_of=as_of, start=first, end=end, hours=hours, due_hour=DUE_HOUR, cash=cash, bank=bank, opening=opening,
        inflow=total_in, outflow=total_out, closing=opening + total_in - total_out, lowest=lowest,
        lowest_at=lowest_at, totals=totals, by_hour=by_hour, items=items,
        overdue_receivables=overdue,
        threshold=threshold, first_below_at=first_below)


def _cash_now(session: Session, org_id: int, first: datetime) -> tuple[Decimal, Decimal]:
    """(库存现金, 银行存款) at the end of the start's day: from the covering index on PostgreSQL."""
    rows = session.execute(
        select(VoucherLine.account_code, type_coerce(func.sum(VoucherLine.debit - VoucherLine.credit), Money()))
        .where(VoucherLine.org_id == org_id, VoucherLine.account_code.in_(CASH_ACCOUNTS),
               VoucherLine.voucher_date <= literal(first.date(), Date))
        .group_by(VoucherLine.account_code)).all()
    got = {code: value or ZERO for code, value in cast(list[tuple[str, Decimal | None]], rows)}
    return got.get("1001", ZERO), got.get("1002", ZERO)


def _due_at(day: Any, days: int) -> datetime:
    return datetime.combine(day + timedelta(days=days), time(DUE_HOUR), SHANGHAI)


def _hour_of(first: datetime, at: datetime) -> int:
    return max(0, int((at - first) // timedelta(hours=1)))


def _open_charges(org_id: int, side: Side, since: date | None, until: Any = None) -> tuple[Any, Any]:
    """Open charges (line, party, name, credit days, date, document, number, open amount) of one side
    dated from ``since`` (None: all) up to ``until`` (None: any), naming a party; and the lines' CTE
    (callers filter on its ``voucher_date``)."""
    accounts = SIDE_ACCOUNTS[side]
    matches = (select(OpenItemMatch.charge_line_id.label("line_id"), func.sum(OpenItemMatch.amount).label("matched"))
               .where(OpenItemMatch.org_id == org_id, OpenItemMatch.account_code.in_(accounts)))
    if since is not None:  # a match carries its charge's date: only the matches of these lines are summed
        matches = matches.where(OpenItemMatch.charge_on >= literal(since, Date))
    matched = matches.group_by(OpenItemMatch.charge_line_id).subquery()
    # A charge is a line on the side's normal side; said without a literal zero (Money scaling on SQLite).
    is_charge = (VoucherLine.debit > VoucherLine.credit) if side == Side.RECEIVABLE else (
        VoucherLine.credit > VoucherLine.debit)
    # Still open (closed_on): a closed line's matches reach its amount, so it is not open either way;
    # said, so the lines come from the open-lines index alone (it carries every column read here).
    where: list[Any] = [VoucherLine.org_id == org_id, VoucherLine.account_code.in_(accounts), is_charge,
                        VoucherLine.party_id.is_not(None), VoucherLine.closed_on == STILL_OPEN]
    if since is not None:
        where.append(VoucherLine.voucher_date >= literal(since, Date))
    if until is not None:
        where.append(VoucherLine.voucher_date <= until)
    if side == Side.PAYABLE:
        # Farmers' lines are most of the payables (a delivery each) and are not read here (below): only
        # the other parties' lines are kept (the few parties hashed), before they are materialised.
        where.append(VoucherLine.party_id.in_(select(Party.id).where(Party.org_id == org_id,
                                                                     Party.kind != PartyKind.FARMER)))
    # The side's lines first, from an (org, account, ...) index: materialised, so the planner does
    # not walk every line of the org in party order to merge-join the parties.
    lines = (select(VoucherLine.id, VoucherLine.party_id, VoucherLine.voucher_date, VoucherLine.document_id,
                    type_coerce(signed_amount(side), Money()).label("amount"))
             .where(*where).cte(f"{side.value}_lines").prefix_with("MATERIALIZED"))
    open_ = type_coerce(lines.c.amount - func.coalesce(matched.c.matched, 0), Money())
    stmt = (select(lines.c.id, lines.c.party_id, Party.name, Party.credit_days, lines.c.voucher_date,
                   lines.c.document_id, Document.number, open_.label("open_amount"))
            .select_from(lines)
            .outerjoin(Document, Document.id == lines.c.document_id)
            .join(Party, Party.id == lines.c.party_id)
            .outerjoin(matched, matched.c.line_id == lines.c.id)
            .where(open_ > 0))
    if side == Side.PAYABLE:  # farmers: from their settlements (prepayment / balance after QC)
        stmt = stmt.where(Party.kind != PartyKind.FARMER)
    return stmt, lines


def _window_days(first: datetime, end: datetime) -> tuple[Any, Any]:
    return literal(first.date(), Date), literal((end - timedelta(microseconds=1)).date(), Date)


def _item(kind: FlowKind, row: Any, first: datetime) -> CashItem:
    _line, party_id, name, credit_days, day, document_id, number, value = row
    at = _due_at(day, credit_days)
    return CashItem(kind.value, "in" if kind in INFLOWS else "out", document_id, number, party_id, name, value, at,
                    _hour_of(first, at), at < first)


def _receivables(session: Session, org_id: int, first: datetime, end: datetime,
                 since: date) -> tuple[list[CashItem], OverdueReceivables]:
    """Receivables falling due in the window (items), and the overdue ones by customer: everything
    open less what is not yet due, so only the recent lines are read one by one."""
    day0, day1 = _window_days(first, end)
    recent, lines = _open_charges(org_id, Side.RECEIVABLE, since)
    days = Party.credit_days
    in_window = and_(lines.c.voucher_date <= day1, days_between(day1, lines.c.voucher_date) >= days,
                     days_between(day0, lines.c.voucher_date) <= days)
    items: list[CashItem] = []
    late: dict[int, Decimal] = {}
    for row in session.execute(recent.where(in_window).order_by(lines.c.voucher_date, lines.c.id)):
        item = _item(FlowKind.RECEIVABLE, row, first)
        if item.expected_at >= end:
            continue
        if item.overdue:  # fell due earlier today: late already, not counted on
            late[row[1]] = late.get(row[1], ZERO) + item.amount
        else:
            items.append(item)
    # Per customer: all charges less all matches (what is open), less what is open and not yet due.
    accounts = SIDE_ACCOUNTS[Side.RECEIVABLE]
    charged = dict(cast(list[tuple[int, Decimal]], session.execute(
        select(VoucherLine.party_id, type_coerce(func.sum(VoucherLine.debit - VoucherLine.credit), Money()))
        .where(VoucherLine.org_id == org_id, VoucherLine.account_code.in_(accounts),
               VoucherLine.debit > VoucherLine.credit, VoucherLine.party_id.is_not(None))
        .group_by(VoucherLine.party_id)).all()))
    matched = dict(cast(list[tuple[int, Decimal]], session.execute(
        select(OpenItemMatch.party_id, type_coerce(func.sum(OpenItemMatch.amount), Money()))
        .where(OpenItemMatch.org_id == org_id, OpenItemMatch.account_code.in_(accounts))
        .group_by(OpenItemMatch.party_id)).all()))
    not_due = recent.where(days_between(day0, lines.c.voucher_date) <= days).subquery()
    pending = dict(cast(list[tuple[int, Decimal]], session.execute(
        select(not_due.c.party_id, type_coerce(func.sum(not_due.c.open_amount), Money()))
        .group_by(not_due.c.party_id)).all()))
    owed = {p: v - matched.get(p, ZERO) - pending.get(p, ZERO) + late.get(p, ZERO) for p, v in charged.items()}
    owed = {p: v for p, v in owed.items() if v > 0}
    top = sorted(owed.items(), key=lambda pv: (-pv[1], pv[0]))[:OVERDUE_LISTED]
    names = dict(cast(list[tuple[int, str]], session.execute(
        select(Party.id, Party.name).where(Party.org_id == org_id, Party.id.in_([p for p, _v in top]))).all())
                 ) if top else {}
    overdue = OverdueReceivables(sum(owed.values(), ZERO), len(owed),
                                 [OverdueParty(p, names.get(p, ""), v) for p, v in top])
    return items, overdue


def _payables(session: Session, org_id: int, first: datetime, end: datetime, since: date) -> list[CashItem]:
    """Payables (suppliers') falling due in the window, and — prudence — those already due, in hour 0."""
    day0, day1 = _window_days(first, end)
    recent, lines = _open_charges(org_id, Side.PAYABLE, since, day1)
    days = Party.credit_days
    in_window = and_(days_between(day1, lines.c.voucher_date) >= days, days_between(day0, lines.c.voucher_date) <= days)
    items = [item for item in (_item(FlowKind.PAYABLE, row, first) for row in session.execute(
        recent.where(in_window).order_by(lines.c.voucher_date, lines.c.id))) if item.expected_at < end]
    every, lines = _open_charges(org_id, Side.PAYABLE, None, day0)
    items += [_item(FlowKind.PAYABLE, row, first) for row in session.execute(
        every.where(days_between(day0, lines.c.voucher_date) > days).order_by(lines.c.voucher_date, lines.c.id))]
    return items


def _farmer_items(session: Session, org_id: int, first: datetime, end: datetime,
                  limit: int | None) -> tuple[list[CashItem], list[CashItem], Decimal]:
    """Farmer settlements waiting for their prepayment (the whole delivery once its lot passed QC, as
    settlement pays it) or their balance after QC: (items counted, items only listed, a sum counted in
    hour 0 without items).

    ``limit`` None: every waiting delivery is an item (counted). Otherwise deliveries so old they are
    overdue whatever the farmer's credit days are summed in SQL (the lump, hour 0) and only the first
    ``limit`` of them in the forecast's order are read (listed); the recent ones are items, counted."""
    waiting = [FarmerSettlement.org_id == org_id,
               FarmerSettlement.status.in_([SettlementStatus.PREPAYMENT_DUE, SettlementStatus.BALANCE_DUE])]
    due = case((FarmerSettlement.status == SettlementStatus.BALANCE_DUE, FarmerSettlement.balance),
               (Lot.qc_status == QcStatus.PASSED, FarmerSettlement.total), else_=FarmerSettlement.prepayment)
    credit_days = func.coalesce(Party.credit_days, 0)

    # Never more than the delivery's payable still open (kept on the settlement): a farmer may have been
    # paid with a 付款单 (matched against the delivery) instead of through her settlement. No open
    # payable: nothing owed.
    owed = FarmerSettlement.payable_open
    value = type_coerce(case((due < owed, due), else_=owed), Money()).label("value")
    one_by_one = (select(FarmerSettlement.receipt_id, Document.number, Document.business_time,
                         FarmerSettlement.party_id, Party.name, credit_days, FarmerSettlement.status, value)
                  .join(Document, Document.id == FarmerSettlement.receipt_id)
                  .join(Party, Party.id == FarmerSettlement.party_id)
                  .join(Lot, Lot.id == FarmerSettlement.lot_id)
                  # The org's documents said outright: walked in time order on the (org, time) index.
                  .where(*waiting, Document.org_id == org_id, due > 0, owed > 0))

    if limit is None:
        return _farmer_rows(session.execute(one_by_one.order_by(FarmerSettlement.id)), first, end), [], ZERO
    # Delivered before this, a delivery is overdue whatever the farmer's credit days: hour 0.
    longest = session.scalar(select(func.max(Party.credit_days)).where(
        Party.org_id == org_id, Party.kind == PartyKind.FARMER)) or 0
    cutoff = literal(first - timedelta(days=longest), UTCDateTime())
    recent = session.execute(one_by_one.where(Document.business_time >= cutoff).order_by(FarmerSettlement.id)).all()
    counted = _farmer_rows(recent, first, end)
    # The lump: every waiting delivery's min(due, open) less the recent ones' (the same figures, read
    # above), so the deliveries are not joined to their documents for the time, nor their lots: the
    # lot's QC is looked up in the org's passed lots (a hashed list).
    passed = select(Lot.id).where(Lot.org_id == org_id, Lot.qc_status == QcStatus.PASSED)
    due_of = case((FarmerSettlement.status == SettlementStatus.BALANCE_DUE, FarmerSettlement.balance),
                  (FarmerSettlement.lot_id.in_(passed), FarmerSettlement.total), else_=FarmerSettlement.prepayment)
    every = session.scalar(
        select(type_coerce(func.sum(case((due_of < owed, due_of), else_=owed)), Money()))
        .where(*waiting, due_of > 0, owed > 0)) or ZERO
    lump = every - sum((row[-1] for row in recent), ZERO)
    listed: list[CashItem] = []
    # The old ones' first ``limit`` by due time: by delivery time among farmers of the same credit days.
    # (One value, the usual case: no filter, so the planner walks the deliveries in time order and stops.)
    terms = list(session.scalars(select(Party.credit_days).where(
        Party.org_id == org_id, Party.kind == PartyKind.FARMER).distinct()))
    for days in terms:
        some = one_by_one.where(Document.business_time < cutoff)
        if len(terms) > 1:
            some = some.where(Party.credit_days == days)
        listed += _farmer_rows(session.execute(
            some.order_by(Document.business_time, Document.number, FarmerSettlement.receipt_id).limit(limit)),
            first, end)
    return counted, listed, lump


def _farmer_rows(rows: Any, first: datetime, end: datetime) -> list[CashItem]:
    out = []
    for receipt_id, number, when, party_id, name, credit_days, status, value in rows:
        at = when.astimezone(SHANGHAI) + timedelta(days=credit_days or 0)
        if at >= end:
            continue
        note = "尾款" if status == SettlementStatus.BALANCE_DUE else "预付款"
        out.append(CashItem(FlowKind.FARMER.value, "out", receipt_id, number, party_id, name, value, at,
                            _hour_of(first, at), at < first, note))
    return out


def _order_items(session: Session, org_id: int, first: datetime, end: datetime) -> list[CashItem]:
    """Approved purchase orders still to be received, for the part not received yet."""
    approval = (select(ApprovalRequest.document_id, ApprovalRequest.status)
                .where(ApprovalRequest.org_id == org_id,
                       ApprovalRequest.doc_kind == DocKind.PURCHASE_ORDER.value).subquery())
    rows = session.execute(
        select(Document.id, Document.number, Document.business_time, Document.party_id, Party.name,
               Party.credit_days, DocumentLine.quantity, DocumentLine.done_quantity, DocumentLine.unit_price)
        .join(DocumentLine, DocumentLine.document_id == Document.id)
        .outerjoin(Party, Party.id == Document.party_id)
        .outerjoin(approval, approval.c.document_id == Document.id)
        .where(Document.org_id == org_id, Document.kind == DocKind.PURCHASE_ORDER,
               Document.status.in_([DocStatus.CONFIRMED, DocStatus.PARTIAL]),
               or_(approval.c.status.is_(None), approval.c.status == ApprovalStatus.APPROVED),
               DocumentLine.quantity > DocumentLine.done_quantity, Document.business_time < end)
        .order_by(Document.id, DocumentLine.line_no)).all()
    open_part: dict[int, Decimal] = {}
    head: dict[int, tuple[str, datetime, int | None, str, int]] = {}
    for doc_id, number, when, party_id, name, credit_days, qty, done, price in rows:
        # Each line as a receipt would book it: open quantity × price, to the fen.
        open_part[doc_id] = open_part.get(doc_id, ZERO) + money((qty - done) * price)
        head[doc_id] = (number, when, party_id, name or "", credit_days or 0)
    out = []
    for doc_id, value in open_part.items():
        number, when, party_id, name, credit_days = head[doc_id]
        at = when.astimezone(SHANGHAI) + timedelta(days=credit_days)
        if value <= 0 or at >= end:
            continue
        out.append(CashItem(FlowKind.PURCHASE_ORDER.value, "out", doc_id, number, party_id, name, value, at,
                            _hour_of(first, at), at < first, "未到货部分"))
    return out
