"""Chart of accounts, mapping rules as data, vouchers and farmer settlements."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, Date, Enum, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, BigId, CreatedMixin, IdMixin, OrgMixin
from models.types import Money, UTCDateTime


class AccountCategory(enum.StrEnum):
    ASSET = "asset"
    LIABILITY = "liability"
    EQUITY = "equity"
    COST = "cost"
    PROFIT_LOSS = "profit_loss"


class Account(IdMixin, OrgMixin, Base):
    __tablename__ = "accounts"
    __table_args__ = (UniqueConstraint("org_id", "code"),)

    code: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(64))
    category: Mapped[AccountCategory] = mapped_column(Enum(AccountCategory, native_enum=False, length=16))
    #: "debit" or "credit": the side on which the balance normally stands.
    normal_side: Mapped[str] = mapped_column(String(6))
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class MappingRule(IdMixin, OrgMixin, CreatedMixin, Base):
    """Which accounts a posting event hits: data a finance officer can change.

    ``condition`` is a dict of equalities over the posting's attributes (party_kind,
    site_kind, item_code …); ``lines`` is a list of {"account", "side", "amount"} where
    ``amount`` names one of the figures the operation supplies (goods, tax, total, cost …).
    A change creates a new version; the old one is kept, inactive, for the vouchers it posted.
    """

    __tablename__ = "mapping_rules"

    event: Mapped[str] = mapped_column(String(48), index=True)
    name: Mapped[str] = mapped_column(String(64))
    condition: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    lines: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    version: Mapped[int] = mapped_column(Integer, default=1)
    #: All versions of one rule share the id of the first.
    family_id: Mapped[int | None] = mapped_column(BigId)
    active: Mapped[bool] = mapped_column(Boolean, default=True, index=True)


class VoucherStatus(enum.StrEnum):
    POSTED = "posted"
    REVERSED = "reversed"


class Voucher(IdMixin, OrgMixin, CreatedMixin, Base):
    """记账凭证: posted in the same transaction as its document; never edited afterwards."""

    __tablename__ = "vouchers"
    __table_args__ = (
        UniqueConstraint("org_id", "number"),
        # The voucher list and its exports read one org's vouchers dated in a range.
        Index("ix_vouchers_org_date", "org_id", "voucher_date"),
    )

    number: Mapped[str] = mapped_column(String(32))
    #: YYYYMM in Asia/Shanghai.
    period: Mapped[str] = mapped_column(String(6), index=True)
    voucher_date: Mapped[date] = mapped_column(Date)
    document_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("documents.id"), index=True)
    event: Mapped[str] = mapped_column(String(48))
    mapping_rule_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("mapping_rules.id"), index=True)
    #: The figures the lines were computed from: enough to re-post under another rule.
    amounts: Mapped[dict[str, str]] = mapped_column(JSON)
    #: The attributes the rule was matched on.
    facts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[VoucherStatus] = mapped_column(Enum(VoucherStatus, native_enum=False, length=8))
    reverses_voucher_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("vouchers.id"))
    summary: Mapped[str] = mapped_column(String(128), default="")

    lines: Mapped[list[VoucherLine]] = relationship(
        lazy="selectin", cascade="all, delete-orphan", order_by="VoucherLine.line_no"
    )


#: A voucher line's ``closed_on`` while any of it is unmatched.
STILL_OPEN = date(9999, 12, 31)


class VoucherLine(IdMixin, OrgMixin, Base):
    __tablename__ = "voucher_lines"
    __table_args__ = (
        # The control balance reads one org's lines of a few control accounts up to a day (on
        # PostgreSQL from the index alone); aging reads only the lines still open on the day, found
        # from whichever end is narrower: dated up to the day, or closed after it.
        Index("ix_voucher_lines_org_account_date", "org_id", "account_code", "voucher_date",
              postgresql_include=["party_id", "debit", "credit", "closed_on"]),
        # It carries the document and the id too: the cash forecast reads open charges and what is
        # open per document (the farmer deliveries) from the index alone, without the vouchers.
        Index("ix_voucher_lines_org_account_closed", "org_id", "account_code", "closed_on",
              postgresql_include=["party_id", "voucher_date", "debit", "credit", "document_id", "id"]),
        Index("ix_voucher_lines_org_party_account", "org_id", "party_id", "account_code"),
    )

    voucher_id: Mapped[int] = mapped_column(BigId, ForeignKey("vouchers.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    account_code: Mapped[str] = mapped_column(String(16))
    debit: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    credit: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0))
    party_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("parties.id"))
    memo: Mapped[str] = mapped_column(String(128), default="")
    #: The voucher's date, copied onto its lines when posted (reports by day need no join).
    voucher_date: Mapped[date | None] = mapped_column(Date)
    #: The voucher's document, copied onto its lines when posted (per-document sums need no join);
    #: None for a voucher of no document (结转损益). A copy, like voucher_date: no foreign key.
    document_id: Mapped[int | None] = mapped_column(BigId)
    #: The day its matches (核销) reached its whole amount; STILL_OPEN (9999-12-31) until then. The
    #: one column set after posting: a cache of the matches, which only ever grow, so once set it
    #: never changes. Aging as of a day reads only lines with closed_on after that day.
    closed_on: Mapped[date] = mapped_column(Date, default=STILL_OPEN, server_default=STILL_OPEN.isoformat())


class SettlementStatus(enum.StrEnum):
    PREPAYMENT_DUE = "prepayment_due"
    PREPAID = "prepaid"  # balance waits for QC
    BALANCE_DUE = "balance_due"  # QC passed
    SETTLED = "settled"
    WITHHELD = "withheld"  # QC failed: balance held until someone decides
    CANCELLED = "cancelled"  # receipt reversed before any payment


class FarmerSettlement(IdMixin, OrgMixin, CreatedMixin, Base):
    """What a farmer is owed for one delivery: a prepayment now, the balance after QC."""

    __tablename__ = "farmer_settlements"

    receipt_id: Mapped[int] = mapped_column(BigId, ForeignKey("documents.id"), unique=True)
    party_id: Mapped[int] = mapped_column(BigId, ForeignKey("parties.id"), index=True)
    lot_id: Mapped[int] = mapped_column(BigId, ForeignKey("lots.id"))
    total: Mapped[Decimal] = mapped_column(Money())
    prepayment: Mapped[Decimal] = mapped_column(Money())
    balance: Mapped[Decimal] = mapped_column(Money())
    status: Mapped[SettlementStatus] = mapped_column(Enum(SettlementStatus, native_enum=False, length=16))
    #: What is still open of the receipt's payable lines (the sub-ledger: each open line less its
    #: matches), kept by the postings and matches that change it (models.subledger.refresh_farmer_payables)
    #: so that what farmers are owed is a sum over this table, not a join of it to every open line.
    payable_open: Mapped[Decimal] = mapped_column(Money(), default=Decimal(0), server_default="0")
    prepaid_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("documents.id"))
    settled_by_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("documents.id"))
    prepaid_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class OpenItemMatch(IdMixin, OrgMixin, CreatedMixin, Base):
    """核销: part of a credit on a party's control account (a payment, a reversal, an advance) set
    against a charge (a shipment's receivable, a receipt's payable). Never changed: an undo is a
    red-ink reversal matched in its turn. Each line's open amount is its own amount less its
    matches; when that reaches zero the line's ``closed_on`` is set (models.subledger)."""

    __tablename__ = "open_item_matches"
    __table_args__ = (CheckConstraint("amount > 0", name="ck_open_item_matches_positive"),)

    account_code: Mapped[str] = mapped_column(String(16))
    party_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("parties.id"))
    charge_line_id: Mapped[int] = mapped_column(BigId, ForeignKey("voucher_lines.id"), index=True)
    credit_line_id: Mapped[int] = mapped_column(BigId, ForeignKey("voucher_lines.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(Money())
    #: The later of the two vouchers' dates: an aging as of an earlier day does not see the match.
    matched_on: Mapped[date] = mapped_column(Date)
    #: The charge's date, copied: aging puts a match in its charge's bucket without reading the line.
    charge_on: Mapped[date] = mapped_column(Date)
    created_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))
