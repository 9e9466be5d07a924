"""Consistency checks of the ledger and the books; tests, benchmarks and health use them."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import func, select, type_coerce
from sqlalchemy.orm import Session

from models.documents import DocKind, DocStatus, Document
from models.finance import FarmerSettlement, Voucher, VoucherLine
from models.org import Site
from models.stock import Balance, StockMove
from models.subledger import open_payables_by_document
from models.types import Money

#: Kinds whose posting always produces a voucher when it moves value or money.
POSTING_KINDS = (DocKind.RECEIPT, DocKind.SHIPMENT, DocKind.COUNT, DocKind.SETTLEMENT, DocKind.TRANSFER,
                 DocKind.OPENING)


@dataclass
class CheckReport:
    checks: dict[str, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not any(self.checks.values())

    def problems(self) -> list[str]:
        return [p for ps in self.checks.values() for p in ps]


def ledger_matches_balances(session: Session, org_id: int) -> list[str]:
    """On hand and value of every balance equal Σ of its moves."""
    sums = {
        (i, s, lot): (q, v)
        for i, s, lot, q, v in session.execute(
            select(StockMove.item_id, StockMove.site_id, StockMove.lot_id,
                   func.sum(StockMove.quantity), func.sum(StockMove.value))
            .where(StockMove.org_id == org_id)
            .group_by(StockMove.item_id, StockMove.site_id, StockMove.lot_id)
        )
    }
    problems = []
    for bal in session.scalars(select(Balance).where(Balance.org_id == org_id)):
        q, v = sums.pop((bal.item_id, bal.site_id, bal.lot_id), (Decimal(0), Decimal(0)))
        if bal.on_hand != q or bal.value != v:
            problems.append(f"balance {bal.id}: on_hand {bal.on_hand} value {bal.value} != Σ moves {q} {v}")
    problems.extend(f"moves without balance row: {key}" for key in sums)
    return problems


def no_forbidden_negatives(session: Session, org_id: int) -> list[str]:
    """No balance is negative, or below its reservations, at a site that forbids it."""
    rows = session.execute(
        select(Balance, Site.allow_negative).join(Site, Site.id == Balance.site_id).where(Balance.org_id == org_id)
    )
    return [
        f"balance {b.id} at site {b.site_id}: on_hand {b.on_hand} reserved {b.reserved}"
        for b, allow in rows
        if not allow and (b.on_hand < 0 or b.reserved < 0 or b.reserved > b.on_hand)
    ]


def vouchers_balance(session: Session, org_id: int) -> list[str]:
    """Every voucher's debits equal its credits."""
    rows = session.execute(
        select(Voucher.number, func.sum(VoucherLine.debit), func.sum(VoucherLine.credit))
        .join(VoucherLine, VoucherLine.voucher_id == Voucher.id)
        .where(Voucher.org_id == org_id)
        .group_by(Voucher.number)
    )
    return [f"voucher {n}: debit {d} != credit {c}" for n, d, c in rows if d != c]


def posted_documents_have_vouchers(session: Session, org_id: int) -> list[str]:
    """Every posted document that moved value or money has a voucher."""
    with_voucher = select(Voucher.document_id).where(Voucher.org_id == org_id, Voucher.document_id.is_not(None))
    moved_value = (
        select(StockMove.document_id)
        .where(StockMove.org_id == org_id)
        .group_by(StockMove.document_id)
        .having(func.sum(func.abs(StockMove.value)) != 0)
    )
    docs = session.scalars(
        select(Document).where(
            Document.org_id == org_id,
            Document.kind.in_(POSTING_KINDS),
            Document.status.not_in([DocStatus.REQUESTED, DocStatus.APPROVED, DocStatus.REJECTED,
                                    DocStatus.CANCELLED, DocStatus.DRAFT]),  # a draft receipt posts nothing yet
            Document.id.not_in(with_voucher),
            (Document.total_amount != 0) | Document.id.in_(moved_value),
        )
    )
    return [f"document {d.number} ({d.kind.value}, {d.status.value}) has no voucher" for d in docs]


def farmer_payables_current(session: Session, org_id: int) -> list[str]:
    """Each farmer settlement's kept ``payable_open`` equals its receipt's open payables now."""
    fs = FarmerSettlement
    found = open_payables_by_document(org_id)
    now = type_coerce(func.coalesce(found.c.open, 0), Money())
    return [f"settlement {sid} (receipt {rid}): payable_open {kept} != open payables {actual}"
            for sid, rid, kept, actual in session.execute(
                select(fs.id, fs.receipt_id, fs.payable_open, now)
                .outerjoin(found, found.c.document_id == fs.receipt_id)
                .where(fs.org_id == org_id, fs.payable_open != now).order_by(fs.id))]


def check_all(session: Session, org_id: int) -> CheckReport:
    """Run every check for one organisation."""
    return CheckReport({
        "ledger_matches_balances": ledger_matches_balances(session, org_id),
        "no_forbidden_negatives": no_forbidden_negatives(session, org_id),
        "vouchers_balance": vouchers_balance(session, org_id),
        "posted_documents_have_vouchers": posted_documents_have_vouchers(session, org_id),
        "farmer_payables_current": farmer_payables_current(session, org_id),
    })
