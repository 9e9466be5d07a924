"""VAT summary of a period (增值税申报汇总): output tax (销项) on shipments, input tax (进项) on
receipts, by rate and in total, the taxable amounts, the tax payable and the documents behind them.

Two aggregates in SQL, and they check each other:
- the documents: receipts and shipments posted in the month (reversals included, as negative
  lines, so a reversed document nets out), their lines grouped by kind and rate — the taxable
  amount and the tax per rate, and the list of documents (number, party, invoice number, amount,
  rate, tax);
- the books: the month's voucher lines on 222102 (销项: credits − debits) and 222101 (进项: debits
  − credits). The tax payable is output − input from the books (negative: 留抵, carried forward).
``balanced`` says the documents' taxes equal the books'. They differ only when something booked tax
outside the receipt/shipment path (a hand-changed mapping rule, a re-post dated in another month),
or for documents posted before VAT was kept per line (issue 12: their tax went to the parent 2221).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, cast

from sqlalchemy import Date, func, literal, select, text, type_coerce
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.chart import INPUT_VAT, OUTPUT_VAT
from models.documents import DocKind, DocStatus, Document, DocumentLine
from models.finance import VoucherLine
from models.org import Party
from models.periods import checked_period, period_days, period_moments
from models.timeutil import SHANGHAI
from models.types import Money, ScaledDecimal

ZERO = Decimal("0.00")
#: Documents of a month shown in the list at most (the totals always cover all of them).
MAX_DOCUMENTS = 2000
_KINDS = (DocKind.RECEIPT, DocKind.SHIPMENT)
#: Posted, and posted-then-reversed (its reversal is a posted document of its own): never drafts.
_STATUSES = (DocStatus.POSTED, DocStatus.REVERSED)


@dataclass(frozen=True)
class RateRow:
    #: None: lines posted before rates were kept per line.
    rate: Decimal | None
    sales: Decimal
    output_tax: Decimal
    purchases: Decimal
    input_tax: Decimal


@dataclass(frozen=True)
class VatDocument:
    document_id: int
    number: str
    kind: str
    business_date: date
    party_id: int | None
    party_name: str
    invoice_number: str | None
    #: Before tax; negative on a reversal.
    amount: Decimal
    rate: Decimal | None
    tax: Decimal
    reverses_document_id: int | None


@dataclass(frozen=True)
class VatSummary:
    period: str
    date_from: date
    date_to: date
    rates: list[RateRow]
    #: Taxable sales and purchases, and their tax, from the documents.
    sales: Decimal
    output_tax: Decimal
    purchases: Decimal
    input_tax: Decimal
    #: From the books: 222102 credits − debits, 222101 debits − credits.
    output_tax_booked: Decimal
    input_tax_booked: Decimal
    #: output_tax_booked − input_tax_booked; negative is 留抵 (carried forward).
    tax_payable: Decimal
    #: The documents' taxes equal the books'.
    balanced: bool
    documents: list[VatDocument]
    documents_truncated: bool


def vat_summary(session: Session, actor: Actor, period: str) -> VatSummary:
    """The VAT summary of ``period`` (YYYYMM, Asia/Shanghai) for the actor's organisation."""
    actor.require(Permission.VIEW_FINANCE)
    period = checked_period(period)
    first, last = period_days(period)
    start, end = period_moments(period)
    org_id = actor.org_id
    if session.get_bind().dialect.name == "postgresql":
        # As for aging: JIT compiling these month-wide aggregates costs more than it saves.
        session.execute(text("SET LOCAL jit = off"))
    in_month = (Document.org_id == org_id, Document.kind.in_(_KINDS), Document.status.in_(_STATUSES),
                Document.business_time >= start, Document.business_time < end)

    by_rate = session.execute(
        select(Document.kind, DocumentLine.tax_rate, type_coerce(func.sum(DocumentLine.amount), Money()),
               type_coerce(func.sum(DocumentLine.tax_amount), Money()))
        .join(Document, Document.id == DocumentLine.document_id)
        .where(*in_month)
        .group_by(Document.kind, DocumentLine.tax_rate)).all()
    rows: dict[Decimal | None, list[Decimal]] = {}
    for kind, rate, amount, tax in cast(list[tuple[DocKind, Decimal | None, Decimal, Decimal]], by_rate):
        figures = rows.setdefault(rate, [ZERO] * 4)
        offset = 0 if kind == DocKind.SHIPMENT else 2
        figures[offset] += amount or ZERO
        figures[offset + 1] += tax or ZERO
    rates = [RateRow(rate, *figures) for rate, figures in
             sorted(rows.items(), key=lambda kv: (kv[0] is None, -(kv[0] or 0)))
             if any(figures)]

    booked = dict(cast(list[tuple[str, Decimal]], session.execute(
        select(VoucherLine.account_code,
               type_coerce(func.sum(VoucherLine.debit), Money()) - type_coerce(func.sum(VoucherLine.credit), Money()))
        .where(VoucherLine.org_id == org_id, VoucherLine.account_code.in_([OUTPUT_VAT, INPUT_VAT]),
               VoucherLine.voucher_date >= literal(first, Date), VoucherLine.voucher_date <= literal(last, Date))
        .group_by(VoucherLine.account_code)).all()))
    output_booked = -(booked.get(OUTPUT_VAT) or ZERO) + ZERO  # a liability: credits − debits
    input_booked = (booked.get(INPUT_VAT) or ZERO) + ZERO

    documents = _documents(session, in_month)
    truncated = len(documents) > MAX_DOCUMENTS
    sales = sum((r.sales for r in rates), ZERO)
    output_tax = sum((r.output_tax for r in rates), ZERO)
    purchases = sum((r.purchases for r in rates), ZERO)
    input_tax = sum((r.input_tax for r in rates), ZERO)
    return VatSummary(
        period=period, date_from=first, date_to=last, rates=rates, sales=sales, output_tax=output_tax,
        purchases=purchases, input_tax=input_tax, output_tax_booked=output_booked, input_tax_booked=input_booked,
        tax_payable=output_booked - input_booked,
        balanced=(output_tax, input_tax) == (output_booked, input_booked),
        documents=documents[:MAX_DOCUMENTS], documents_truncated=truncated)


def _documents(session: Session, in_month: tuple[Any, ...]) -> list[VatDocument]:
    """The month's receipts and shipments, first MAX_DOCUMENTS + 1: amount before tax and tax from the
    document (its tax is the sum of its lines'), the rate from its lines only for the rows listed."""
    rate = (select(type_coerce(func.max(DocumentLine.tax_rate), ScaledDecimal(6, 4)))
            .where(DocumentLine.document_id == Document.id).correlate(Document).scalar_subquery())
    found: list[Any] = session.execute(
        select(Document.id, Document.number, Document.kind, Document.business_time, Document.party_id, Party.name,
               Document.invoice_number, Document.total_amount - Document.tax_amount, rate, Document.tax_amount,
               Document.reverses_document_id)
        .outerjoin(Party, Party.id == Document.party_id)
        .where(*in_month)
        .order_by(Document.business_time, Document.id)
        .limit(MAX_DOCUMENTS + 1)).all()  # type: ignore[assignment]
    return [VatDocument(document_id=doc_id, number=number, kind=kind.value,
                        business_date=when.astimezone(SHANGHAI).date(), party_id=party_id, party_name=name or "",
                        invoice_number=invoice, amount=amount or ZERO,
                        rate=rate, tax=tax or ZERO, reverses_document_id=reverses)
            for doc_id, number, kind, when, party_id, name, invoice, amount, rate, tax, reverses in found]

