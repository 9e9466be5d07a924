"""The voucher list (凭证列表): every voucher of an organisation dated in a range, with its lines.

One SQL statement joins vouchers, their lines, the accounts' names, the lines' parties and the
vouchers' documents, in voucher-number order; Python only groups the rows it streams into
vouchers. It is what the Excel and 用友/金蝶 exports write, so it is bounded: a range with more
lines than ``MAX_VOUCHER_LINES`` is refused (narrow the dates) rather than built in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, and_, literal, select
from sqlalchemy.orm import Session

from models.documents import Document
from models.errors import ValidationError
from models.finance import Account, Voucher, VoucherLine
from models.org import Party

ZERO = Decimal("0.00")
#: One export is a file a person downloads and imports: bounded (about 20 MB of .xlsx).
MAX_VOUCHER_LINES = 200_000
#: A range longer than this is a mistake, not a report (and would scan years of vouchers).
MAX_RANGE_DAYS = 366 * 2


@dataclass(frozen=True)
class VoucherListLine:
    line_no: int
    account_code: str
    account_name: str
    debit: Decimal
    credit: Decimal
    party_code: str | None
    party_name: str | None
    memo: str


@dataclass(frozen=True)
class VoucherEntry:
    voucher_id: int
    #: "记-202611-00012" and its parts: the 凭证字 ("记") and the number within the period (12).
    number: str
    word: str
    seq: int | None
    period: str
    voucher_date: date
    summary: str
    document_id: int | None
    document_number: str | None
    status: str
    lines: list[VoucherListLine] = field(default_factory=list)

    @property
    def debit_total(self) -> Decimal:
        return sum((ln.debit for ln in self.lines), ZERO)

    @property
    def credit_total(self) -> Decimal:
        return sum((ln.credit for ln in self.lines), ZERO)

    @property
    def attachments(self) -> int:
        """附单据数: the business document the voucher was posted with, if any."""
        return 1 if self.document_id is not None else 0


@dataclass(frozen=True)
class VoucherList:
    date_from: date
    date_to: date
    vouchers: list[VoucherEntry]
    line_count: int
    debit_total: Decimal
    credit_total: Decimal


def split_number(number: str) -> tuple[str, int | None]:
    """记-202611-00012 → ("记", 12); a number of another shape → (its first part, None). An edge
    node's 记-N1-202611-00012 is of another shape: its 12 alone would read as headquarters' 12."""
    word, _, rest = number.partition("-")
    parts = rest.split("-")
    tail = parts[-1]
    return word or "记", int(tail) if len(parts) == 2 and tail.isdigit() else None


def voucher_list(session: Session, org_id: int, date_from: date, date_to: date) -> VoucherList:
    """The org's vouchers dated ``date_from`` … ``date_to`` (both included), each with its lines."""
    if date_from > date_to:
        raise ValidationError("开始日期不能晚于结束日期", field="date_from")
    if (date_to - date_from).days > MAX_RANGE_DAYS:
        raise ValidationError("日期范围不能超过两年", field="date_to")
    stmt = (
        select(Voucher.id, Voucher.number, Voucher.period, Voucher.voucher_date, Voucher.summary,
               Voucher.document_id, Document.number, Voucher.status, VoucherLine.line_no,
               VoucherLine.account_code, Account.name, VoucherLine.debit, VoucherLine.credit, Party.code,
               Party.name, VoucherLine.memo)
        .join(VoucherLine, VoucherLine.voucher_id == Voucher.id)
        .outerjoin(Account, and_(Account.org_id == Voucher.org_id, Account.code == VoucherLine.account_code))
        .outerjoin(Party, Party.id == VoucherLine.party_id)
        .outerjoin(Document, Document.id == Voucher.document_id)
        .where(Voucher.org_id == org_id, Voucher.voucher_date >= literal(date_from, Date),
               Voucher.voucher_date <= literal(date_to, Date))
        .order_by(Voucher.period, Voucher.number, VoucherLine.line_no)
        .limit(MAX_VOUCHER_LINES + 1)
    )
    vouchers: list[VoucherEntry] = []
    current: VoucherEntry | None = None
    count = 0
    debit = credit = ZERO
    row: Any
    for row in session.execute(stmt):
        count += 1
        if count > MAX_VOUCHER_LINES:
            raise ValidationError(f"区间内凭证行超过 {MAX_VOUCHER_LINES} 行，请缩短日期范围", field="date_to")
        (voucher_id, number, period, day, summary, document_id, document_number, status, line_no, code,
         account_name, line_debit, line_credit, party_code, party_name, memo) = row
        if current is None or current.voucher_id != voucher_id:
            word, seq = split_number(number)
            current = VoucherEntry(voucher_id, number, word, seq, period, day, summary or "", document_id,
                                   document_number, str(getattr(status, "value", status)))
            vouchers.append(current)
        current.lines.append(VoucherListLine(line_no, code, account_name or "", line_debit, line_credit,
                                             party_code, party_name, memo or ""))
        debit += line_debit
        credit += line_credit
    return VoucherList(date_from, date_to, vouchers, count, debit, credit)
