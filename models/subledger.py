"""Receivables and payables as sub-ledgers of the posted vouchers: open items and their matching.

A party's sub-ledger is every posted voucher line on a side's control accounts that names the
party. A line whose signed amount is positive is a *charge* (a shipment's receivable, a receipt's
payable); a negative one a *credit* (money received or paid, a red-ink reversal, an advance).
Matching (核销) sets part of a credit against a charge (``OpenItemMatch``); a line's figures are
never edited, so its open amount is its amount less its matches. When that reaches zero the line
is marked closed on the day of its last match (``VoucherLine.closed_on``), so an open-items read or
an aging as of a day touches only the lines still open then, not the whole history. A match only moves an amount
between two lines of the same party and account, so however items are matched, the open items
always add up to the control account's balance.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import func, select, type_coerce, update
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.orm import Session
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Integer

from models.documents import Document
from models.finance import STILL_OPEN, FarmerSettlement, OpenItemMatch, Voucher, VoucherLine
from models.org import Party
from models.periods import period_days
from models.types import Money
from models.unit_of_work import posting_catalog


class Side(enum.StrEnum):
    RECEIVABLE = "receivable"  # 应收: what customers owe us
    PAYABLE = "payable"  # 应付: what we owe suppliers and farmers


SIDE_LABELS = {Side.RECEIVABLE: "应收", Side.PAYABLE: "应付"}
#: The control accounts of each side (应收账款 and 预收账款; 应付账款 and 预付账款).
SIDE_ACCOUNTS: dict[Side, tuple[str, ...]] = {Side.RECEIVABLE: ("1122", "2203"), Side.PAYABLE: ("2202", "1123")}
#: Receivables stand on the debit side, payables on the credit side.
_SIGN = {Side.RECEIVABLE: 1, Side.PAYABLE: -1}

#: Every payable control account: a voucher with a line on one of them may change what a farmer is owed.
PAYABLE_ACCOUNTS = frozenset(SIDE_ACCOUNTS[Side.PAYABLE])

ZERO = Decimal("0.00")  # money: rendered to the fen


class days_between(FunctionElement[int]):
    """Whole days from ``earlier`` to ``later`` (two dates), in SQL on either database."""

    type = Integer()
    inherit_cache = True
    name = "days_between"


@compiles(days_between, "sqlite")
def _days_sqlite(element: days_between, compiler: Any, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return f"CAST(julianday({compiler.process(later, **kw)}) - julianday({compiler.process(earlier, **kw)}) AS INTEGER)"


@compiles(days_between, "postgresql")
def _days_postgresql(element: days_between, compiler: Any, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return f"({compiler.process(later, **kw)} - {compiler.process(earlier, **kw)})"


def signed_amount(side: Side) -> Any:
    """A line's amount on the side's normal side (a charge is positive), as a SQL expression."""
    # No multiplication by a sign: a literal next to a Money column is bound as Money (on SQLite,
    # scaled to fen), so ``-1 * x`` would scale x a second time.
    if _SIGN[side] > 0:
        return type_coerce(VoucherLine.debit - VoucherLine.credit, Money())
    return type_coerce(VoucherLine.credit - VoucherLine.debit, Money())


def matched_by_line(org_id: int, column: Any, party_id: int | None = None) -> Any:
    """Subquery: line id → matched so far, for charges (``charge_line_id``) or credits; of one
    party's lines when ``party_id`` is given."""
    stmt = select(column.label("line_id"), func.sum(OpenItemMatch.amount).label("matched")).where(
        OpenItemMatch.org_id == org_id)
    if party_id is not None:
        stmt = stmt.where(OpenItemMatch.party_id == party_id)
    return stmt.group_by(column).subquery()


@dataclass(frozen=True)
class OpenItem:
    """One line of a party's sub-ledger that is not fully matched."""

    line_id: int
    account_code: str
    voucher_date: date
    due_on: date
    document_id: int | None
    number: str | None
    summary: str
    #: The line's signed amount (charge > 0, credit < 0) and what is still open of it (same sign).
    amount: Decimal
    open: Decimal

    @property
    def is_charge(self) -> bool:
        return self.amount > 0


def open_items(session: Session, org_id: int, party_id: int, side: Side) -> list[OpenItem]:
    """The party's open charges and credits on the side's control accounts, oldest due first."""
    amount = signed_amount(side)
    charged = matched_by_line(org_id, OpenItemMatch.charge_line_id, party_id)
    credited = matched_by_line(org_id, OpenItemMatch.credit_line_id, party_id)
    open_ = type_coerce(amount - func.coalesce(charged.c.matched, 0) + func.coalesce(credited.c.matched, 0), Money())
    stmt = (
        select(VoucherLine.id, VoucherLine.account_code, Voucher.voucher_date, Voucher.document_id,
               Document.number, Voucher.summary, amount, open_)
        .join(Voucher, Voucher.id == VoucherLine.voucher_id)
        .outerjoin(Document, Document.id == Voucher.document_id)
        .outerjoin(charged, charged.c.line_id == VoucherLine.id)
        .outerjoin(credited, credited.c.line_id == VoucherLine.id)
        .where(VoucherLine.org_id == org_id, VoucherLine.party_id == party_id,
               VoucherLine.account_code.in_(SIDE_ACCOUNTS[side]), VoucherLine.closed_on == STILL_OPEN, open_ != 0)
        .order_by(Voucher.voucher_date, VoucherLine.id)
    )
    days = session.scalar(select(Party.credit_days).where(Party.id == party_id)) or 0
    items = [OpenItem(line_id=row[0], account_code=row[1], voucher_date=row[2],
                      due_on=row[2] + timedelta(days=days), document_id=row[3], number=row[4],
                      summary=row[5] or "", amount=row[6], open=row[7])
             for row in session.execute(stmt)]
    return sorted(items, key=lambda i: (i.due_on, i.voucher_date, i.line_id))


@dataclass(frozen=True)
class Match:
    charge_line_id: int
    credit_line_id: int
    amount: Decimal
    matched_on: date
    charge_on: date


def match_oldest_first(charges: list[OpenItem], credits: list[OpenItem],
                       reversing: dict[int, int] | None = None) -> list[Match]:
    """Set each credit (in date order) against the charges of its account, oldest due first; a credit
    that reverses a charge (``reversing``: credit line → charge line) goes against that charge first.
    Pure."""
    left = {c.line_id: c.open for c in charges}
    matches: list[Match] = []
    by_id = {c.line_id: c for c in charges}
    for credit in sorted(credits, key=lambda c: (c.voucher_date, c.line_id)):
        remaining = -credit.open
        first = (reversing or {}).get(credit.line_id)
        # Only within one account: each account's open items keep adding up to its own balance.
        order = ([by_id[first]] if first in by_id else []) + [c for c in charges if c.line_id != first]
        order = [c for c in order if c.account_code == credit.account_code]
        for charge in order:
            if remaining <= 0:
                break
            take = min(left[charge.line_id], remaining)
            if take <= 0:
                continue
            left[charge.line_id] -= take
            remaining -= take
            matches.append(Match(charge.line_id, credit.line_id, take, max(charge.voucher_date, credit.voucher_date),
                                 charge.voucher_date))
    return matches


def record_matches(session: Session, org_id: int, party_id: int, member_id: int | None,
                   matches: list[Match], accounts: dict[int, str]) -> None:
    """Store matches (``accounts``: line id → its account code), and close the lines they settle.

    A match takes effect on the later of its two lines' days, but never inside a closed period: the
    closed month's aging and statements must read tomorrow as they read at the close, so a match
    made after it counts from the first open day."""
    closed = posting_catalog(session, org_id).closed_periods if matches else frozenset()
    floor = period_days(max(closed))[1] + timedelta(days=1) if closed else date.min
    session.add_all(OpenItemMatch(org_id=org_id, party_id=party_id, account_code=accounts[m.charge_line_id],
                                  charge_line_id=m.charge_line_id, credit_line_id=m.credit_line_id,
                                  amount=m.amount, matched_on=max(m.matched_on, floor), charge_on=m.charge_on,
                                  created_by=member_id)
                    for m in matches)
    if matches:
        session.flush()
        lines = {m.charge_line_id for m in matches} | {m.credit_line_id for m in matches}
        close_settled_lines(session, org_id, lines)
        refresh_farmer_payables(session, org_id, select(VoucherLine.document_id).where(
            VoucherLine.id.in_(sorted(lines))).scalar_subquery())


def close_settled_lines(session: Session, org_id: int, line_ids: set[int] | None = None) -> None:
    """Set ``closed_on`` (the day of its last match) on each open line whose matches reach its whole
    amount: of ``line_ids``, or of every open line of the org (a backfill). A line is a charge or a
    credit, never both, so its matches are those naming it on either end."""
    m = OpenItemMatch
    line = VoucherLine
    mine = (m.charge_line_id == line.id) | (m.credit_line_id == line.id)
    matched = select(func.sum(m.amount)).where(m.org_id == org_id, mine).scalar_subquery()
    last = select(func.max(m.matched_on)).where(m.org_id == org_id, mine).scalar_subquery()
    # |debit − credit| without abs() or a literal (a bound number next to Money is scaled on SQLite).
    whole = func.max(line.debit - line.credit, line.credit - line.debit) if session.get_bind().dialect.name == \
        "sqlite" else func.greatest(line.debit - line.credit, line.credit - line.debit)
    stmt = update(line).where(line.org_id == org_id, line.closed_on == STILL_OPEN, whole == matched)
    if line_ids is not None:
        stmt = stmt.where(line.id.in_(sorted(line_ids)))
    session.execute(stmt.values(closed_on=last).execution_options(synchronize_session=False))


def open_payables_by_document(org_id: int, lines: Any = None) -> Any:
    """Subquery (document_id, open): what is still open of each document's payable lines (each open line
    less what was matched against it), from the lines' own copy of their document.

    ``lines`` (a condition on VoucherLine naming a few lines): each line's matches looked up by their
    index. None: every open payable line of the org, its matches grouped once and joined by hash.
    Neither plan depends on the tables' statistics."""
    where = [VoucherLine.org_id == org_id, VoucherLine.account_code.in_(SIDE_ACCOUNTS[Side.PAYABLE]),
             VoucherLine.closed_on == STILL_OPEN]
    if lines is None:
        grouped = matched_by_line(org_id, OpenItemMatch.charge_line_id)
        matched: Any = grouped.c.matched
        stmt = select(VoucherLine.document_id).outerjoin(grouped, grouped.c.line_id == VoucherLine.id)
    else:
        where.append(lines)
        matched = (select(func.sum(OpenItemMatch.amount)).where(OpenItemMatch.charge_line_id == VoucherLine.id)
                   .correlate(VoucherLine).scalar_subquery())
        stmt = select(VoucherLine.document_id)
    open_ = type_coerce(func.sum(signed_amount(Side.PAYABLE) - func.coalesce(matched, 0)), Money())
    return stmt.add_columns(open_.label("open")).where(*where).group_by(VoucherLine.document_id).subquery()


def refresh_farmer_payables(session: Session, org_id: int, receipts: Any) -> None:
    """Store on the farmer settlements of ``receipts`` (document ids, or a select of them; documents
    without a settlement are skipped) what is still open of each receipt's payable lines
    (``FarmerSettlement.payable_open``). Called by whatever adds payable lines to a document or
    matches them: what farmers are owed is then a sum over the settlements (the cash forecast).

    Three small statements, each on an index whatever the statistics say: the receipts' settlements,
    their vouchers (by document), then the open amounts of those vouchers' lines."""
    fs = FarmerSettlement
    settlements = dict(session.execute(select(fs.receipt_id, fs.id).where(fs.org_id == org_id,
                                                                       fs.receipt_id.in_(receipts))).all())
    docs = sorted(settlements)
    if not docs:
        return
    vouchers = list(session.scalars(select(Voucher.id).where(Voucher.org_id == org_id,
                                                             Voucher.document_id.in_(docs))))
    open_now: dict[int, Decimal] = {}
    if vouchers:
        found = open_payables_by_document(org_id, VoucherLine.voucher_id.in_(vouchers))
        rows = session.execute(select(found.c.document_id, found.c.open)).all()
        open_now.update(cast(list[tuple[int, Decimal]], rows))
    session.execute(update(fs), [{"id": settlements[doc], "payable_open": open_now.get(doc, ZERO)} for doc in docs])


def payable_of(lines: list[dict[str, Any]]) -> Decimal:
    """Σ on the payable side of new voucher lines (column values): what a new receipt's voucher makes
    open on its payables, before any match."""
    return sum((line["credit"] - line["debit"] for line in lines if line["account_code"] in PAYABLE_ACCOUNTS), ZERO)
