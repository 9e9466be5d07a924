"""The voucher list a person browses (凭证查询): one page of an organisation's vouchers in a date
range, newest first, each with its total — the screen beside the full export of
:mod:`models.queries.vouchers`. Keyset on the voucher id, so page 2,000 costs what page 1 costs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import Date, func, literal, select, type_coerce
from sqlalchemy.orm import Session

from models.documents import Document
from models.errors import ValidationError
from models.finance import Voucher, VoucherLine
from models.queries.vouchers import MAX_RANGE_DAYS
from models.types import Money

PAGE = 50
STATUS_LABELS = {"posted": "已记账", "reversed": "已冲销"}


@dataclass(frozen=True)
class VoucherHead:
    voucher_id: int
    number: str
    voucher_date: date
    summary: str
    document_id: int | None
    document_number: str | None
    status: str
    amount: Decimal
    #: A red-ink voucher: it reverses another.
    reversal: bool


@dataclass(frozen=True)
class VoucherPage:
    date_from: date
    date_to: date
    vouchers: list[VoucherHead]
    #: Pass back as ``before`` for the next (older) page; None on the last page.
    next_before: int | None


def voucher_page(session: Session, org_id: int, date_from: date, date_to: date, before: int | None = None,
                 limit: int = PAGE) -> VoucherPage:
    """Vouchers dated ``date_from`` … ``date_to`` (both included), newest first, ``limit`` at a time."""
    if date_from > date_to:
        raise ValidationError("开始日期不能晚于结束日期", field="date_from")
    if (date_to - date_from).days > MAX_RANGE_DAYS:
        raise ValidationError("日期范围不能超过两年", field="date_to")
    heads = (
        select(Voucher.id, Voucher.number, Voucher.voucher_date, Voucher.summary, Voucher.document_id,
               Voucher.status, Voucher.reverses_voucher_id)
        .where(Voucher.org_id == org_id, Voucher.voucher_date >= literal(date_from, Date),
               Voucher.voucher_date <= literal(date_to, Date), Voucher.id < (before or 2**62))
        .order_by(Voucher.id.desc()).limit(limit + 1)
        .subquery())
    stmt = (
        select(heads, Document.number, type_coerce(func.sum(VoucherLine.debit), Money()))
        .outerjoin(Document, Document.id == heads.c.document_id)
        .outerjoin(VoucherLine, VoucherLine.voucher_id == heads.c.id)
        .group_by(*heads.c, Document.number)
        .order_by(heads.c.id.desc()))
    rows: list[Any] = list(session.execute(stmt).all())
    out = [VoucherHead(r[0], r[1], r[2], r[3] or "", r[4], r[7], str(getattr(r[5], "value", r[5])),
                       Decimal(r[8] or 0), r[6] is not None) for r in rows[:limit]]
    return VoucherPage(date_from, date_to, out, out[-1].voucher_id if len(rows) > limit else None)
