"""Receivables and payables: aging as of any day, a party's statement of account, its open items.

Aging is computed in SQL over the control accounts' voucher lines (models.subledger): each line
still open at the end of the day (``closed_on`` after it) at its amount less the matches dated up to
then, put in a bucket by days past due (or past the document date), summed per party and bucket —
credits in their own "unapplied" column. A line closed by then adds nothing and is not read, so
the report reads the open part of the book, not its history. The total must equal the control
accounts' balance, which the report sums apart over every line up to the day and compares.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Date, case, func, literal, select, text, type_coerce
from sqlalchemy.orm import Session

from models.documents import Document
from models.errors import ValidationError
from models.finance import OpenItemMatch, Voucher, VoucherLine
from models.lookup import get_owned
from models.org import Party
from models.subledger import (
    SIDE_ACCOUNTS,
    OpenItem,
    Side,
    days_between,
    open_items,
    signed_amount,
)
from models.types import Money

#: Bucket keys in report order, and their Chinese column heads.
BUCKETS = ("current", "d1_30", "d31_60", "d61_90", "d91_180", "over_180", "unapplied")
BUCKET_LABELS = {"current": "未到期", "d1_30": "逾期1-30天", "d31_60": "31-60天", "d61_90": "61-90天",
                 "d91_180": "91-180天", "over_180": "180天以上", "unapplied": "未核销预收/预付"}
ZERO = Decimal("0.00")  # money: rendered to the fen
#: Aging by due date (document date + the party's credit days) or by document date.
BASES = ("due", "document")


@dataclass
class AgingRow:
    party_id: int | None
    party_name: str
    buckets: dict[str, Decimal] = field(default_factory=lambda: dict.fromkeys(BUCKETS, ZERO))

    @property
    def total(self) -> Decimal:
        return sum(self.buckets.values(), ZERO)

    @property
    def overdue(self) -> Decimal:
        return sum((v for k, v in self.buckets.items() if k not in ("current", "unapplied")), ZERO)


@dataclass(frozen=True)
class Aging:
    side: str
    as_of: date
    basis: str
    rows: list[AgingRow]
    totals: dict[str, Decimal]
    total: Decimal
    #: Σ of the side's control accounts' lines up to the day, before any matching.
    control_balance: Decimal
    #: total == control_balance: the report checks itself.
    balanced: bool


def aging(session: Session, org_id: int, side: Side, as_of: date, basis: str = "due") -> Aging:
    """Open items of every party of the org as of ``as_of`` (end of day), by bucket."""
    if basis not in BASES:
        raise ValidationError("账龄依据只能是 due（到期日）或 document（单据日期）", field="basis")
    day = literal(as_of, Date)
    amount = signed_amount(side)
    accounts = SIDE_ACCOUNTS[side]

    def bucket_of(dated: Any, credit: Any = None) -> Any:
        """Bucket number (index into BUCKETS, a narrow key to group on) of an item dated ``dated``."""
        late: Any = days_between(day, dated)
        if basis == "due":
            late = late - func.coalesce(Party.credit_days, 0)
        whens = [(late <= 0, 0), (late <= 30, 1), (late <= 60, 2), (late <= 90, 3), (late <= 180, 4)]
        return case(*([(credit, 6)] if credit is not None else []), *whens, else_=5).label("bucket")

    # 1. The lines still open at the end of the day (dated up to it, closed after it), by party and
    #    bucket, at their whole amount. A line closed by then is fully matched by matches dated up
    #    to then, so it would add nothing: it is not read. Summed by party, day and direction first
    #    (from a covering index on PostgreSQL), so the bucket is worked out once per group. A credit
    #    line is said without a literal: PostgreSQL must see the GROUP BY expression and the
    #    selected one as the same, and two bound zeros are two parameters.
    is_credit = (VoucherLine.credit > VoucherLine.debit) if side == Side.RECEIVABLE else (
        VoucherLine.debit > VoucherLine.credit)
    still_open = (VoucherLine.org_id == org_id, VoucherLine.account_code.in_(accounts),
                  VoucherLine.voucher_date <= day, VoucherLine.closed_on > day)
    daily = (
        select(VoucherLine.party_id.label("party_id"), VoucherLine.voucher_date.label("voucher_date"),
               is_credit.label("credit"), func.sum(amount).label("amount"))
        .where(*still_open)
        .group_by(VoucherLine.party_id, VoucherLine.voucher_date, is_credit)
        .subquery()
    )
    day_bucket = bucket_of(daily.c.voucher_date, daily.c.credit)
    booked = (
        select(daily.c.party_id, day_bucket, type_coerce(func.sum(daily.c.amount), Money()))
        .outerjoin(Party, Party.id == daily.c.party_id)
        .group_by(daily.c.party_id, day_bucket)
    )
    # 2. What of those open lines was matched by the day: a match takes its amount off its charge's
    #    bucket (the charge's date is copied onto it) when the charge is among them, and off the
    #    unapplied credits when the credit is.
    def matched_against(end: Any, *bucket: Any) -> Any:
        return (
            select(OpenItemMatch.party_id, *bucket, type_coerce(func.sum(OpenItemMatch.amount), Money()))
            .join(VoucherLine, VoucherLine.id == end)
            .outerjoin(Party, Party.id == OpenItemMatch.party_id)
            .where(OpenItemMatch.org_id == org_id, OpenItemMatch.account_code.in_(accounts),
                   OpenItemMatch.matched_on <= day, *still_open)
            .group_by(OpenItemMatch.party_id, *bucket)
        )

    on_charges = matched_against(OpenItemMatch.charge_line_id, bucket_of(OpenItemMatch.charge_on))
    on_credits = matched_against(OpenItemMatch.credit_line_id)
    rows: dict[int | None, AgingRow] = {}

    def row_of(party_id: int | None) -> AgingRow:
        found = rows.get(party_id)
        if found is None:
            found = rows[party_id] = AgingRow(party_id, "")
        return found

    for_a_report(session)
    for party_id, key, value in cast(list[tuple[int | None, int, Decimal]], session.execute(booked).all()):
        row_of(party_id).buckets[BUCKETS[key]] += value
    for party_id, key, value in cast(list[tuple[int | None, int, Decimal]], session.execute(on_charges).all()):
        row_of(party_id).buckets[BUCKETS[key]] -= value
    for party_id, value in cast(list[tuple[int | None, Decimal]], session.execute(on_credits).all()):
        row_of(party_id).buckets["unapplied"] += value  # a credit is negative: what was applied comes off
    # 3. The check: every line of the control accounts up to the day, matched or not, read apart.
    control = _control_from_lines(session, org_id, side, day)
    rows = {p: r for p, r in rows.items() if any(r.buckets.values())}
    names = dict(cast(list[tuple[int, str]], session.execute(
        select(Party.id, Party.name).where(Party.org_id == org_id)).all())) if rows else {}
    for party_id, row in rows.items():
        row.party_name = names.get(party_id, "") if party_id is not None else "（无往来单位）"
    ordered = sorted(rows.values(), key=lambda r: (-r.total, r.party_name))
    totals = {key: sum((r.buckets[key] for r in ordered), ZERO) for key in BUCKETS}
    total = sum(totals.values(), ZERO)
    return Aging(side=side.value, as_of=as_of, basis=basis, rows=ordered, totals=totals, total=total,
                 control_balance=control, balanced=total == control)


def _control_from_lines(session: Session, org_id: int, side: Side, day: Any) -> Decimal:
    """The side's control balance at the end of the day, from its lines' copied dates (one
    index-only scan on PostgreSQL)."""
    value = session.scalar(
        select(type_coerce(func.sum(signed_amount(side)), Money()))
        .where(VoucherLine.org_id == org_id, VoucherLine.account_code.in_(SIDE_ACCOUNTS[side]),
               VoucherLine.voucher_date <= day))
    return value or ZERO


def for_a_report(session: Session) -> None:
    """PostgreSQL: no JIT for this transaction's report (compiling it cost ~0.5 s, more than it saved
    on an aggregate over a million lines), and room to group in memory."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL work_mem = '64MB'"))


def control_balance(session: Session, org_id: int, side: Side, as_of: date) -> Decimal:
    """The side's control accounts' balance at the end of ``as_of`` (charges positive), from the
    vouchers' own dates (not the copy on the lines that aging reads)."""
    value = session.scalar(
        select(type_coerce(func.sum(signed_amount(side)), Money()))
        .join(Voucher, Voucher.id == VoucherLine.voucher_id)
        .where(VoucherLine.org_id == org_id, VoucherLine.account_code.in_(SIDE_ACCOUNTS[side]),
               Voucher.voucher_date <= literal(as_of, Date)))
    return value or ZERO


@dataclass(frozen=True)
class StatementLine:
    voucher_date: date
    voucher_number: str
    document_id: int | None
    document_number: str | None
    summary: str
    #: Charges (what the party came to owe / we came to owe) and credits (payments, reversals).
    charge: Decimal
    credit: Decimal
    balance: Decimal


@dataclass(frozen=True)
class Statement:
    """对账单: a party's movements on one side between two days, with the balance before and after."""

    party_id: int
    party_name: str
    side: str
    date_from: date
    date_to: date
    opening: Decimal
    lines: list[StatementLine]
    charges: Decimal
    credits: Decimal
    closing: Decimal


#: One statement is a document a person reads and signs: bounded.
MAX_STATEMENT_LINES = 5000


def statement(session: Session, org_id: int, party_id: int, side: Side, date_from: date, date_to: date) -> Statement:
    """The party's statement of account for ``date_from`` … ``date_to`` (both included)."""
    if date_from > date_to:
        raise ValidationError("开始日期不能晚于结束日期", field="date_from")
    party = get_owned(session, Party, party_id, org_id)
    amount = signed_amount(side)
    where = (VoucherLine.org_id == org_id, VoucherLine.party_id == party.id,
             VoucherLine.account_code.in_(SIDE_ACCOUNTS[side]))
    opening = session.scalar(
        select(type_coerce(func.sum(amount), Money())).join(Voucher, Voucher.id == VoucherLine.voucher_id)
        .where(*where, Voucher.voucher_date < literal(date_from, Date))) or ZERO
    found = session.execute(
        select(Voucher.voucher_date, Voucher.number, Voucher.document_id, Document.number, Voucher.summary, amount)
        .join(Voucher, Voucher.id == VoucherLine.voucher_id)
        .outerjoin(Document, Document.id == Voucher.document_id)
        .where(*where, Voucher.voucher_date >= literal(date_from, Date), Voucher.voucher_date <= literal(date_to, Date))
        .order_by(Voucher.voucher_date, Voucher.id, VoucherLine.id)
        .limit(MAX_STATEMENT_LINES + 1)).all()
    rows = cast(list[tuple[date, str, int | None, str | None, str | None, Decimal]], found)
    if len(rows) > MAX_STATEMENT_LINES:
        raise ValidationError(f"区间内超过 {MAX_STATEMENT_LINES} 笔，请缩短日期范围", field="date_to")
    balance = opening
    lines = []
    for day, voucher_no, document_id, document_no, summary, value in rows:
        balance += value
        lines.append(StatementLine(day, voucher_no, document_id, document_no, summary or "",
                                   value if value > 0 else ZERO, -value if value < 0 else ZERO, balance))
    charges = sum((ln.charge for ln in lines), ZERO)
    credits = sum((ln.credit for ln in lines), ZERO)
    return Statement(party_id=party.id, party_name=party.name, side=side.value, date_from=date_from, date_to=date_to,
                     opening=opening, lines=lines, charges=charges, credits=credits, closing=balance)


@dataclass(frozen=True)
class PartyOpenItems:
    party_id: int
    party_name: str
    side: str
    credit_days: int
    credit_limit: Decimal | None
    items: list[OpenItem]
    open_charges: Decimal
    unapplied_credits: Decimal


def party_open_items(session: Session, org_id: int, party_id: int, side: Side) -> PartyOpenItems:
    """What a party has open on one side, item by item (the list a finance officer matches from)."""
    party = get_owned(session, Party, party_id, org_id)
    items = open_items(session, org_id, party.id, side)
    return PartyOpenItems(
        party_id=party.id, party_name=party.name, side=side.value, credit_days=party.credit_days,
        credit_limit=party.credit_limit, items=items,
        open_charges=sum((i.open for i in items if i.is_charge), ZERO),
        unapplied_credits=sum((i.open for i in items if not i.is_charge), ZERO))
