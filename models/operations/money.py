"""收款单 and 付款单: money received from a customer or paid to a supplier or farmer, posted to cash
or bank against the party's control account and set against its open items (核销) — oldest due
first, or as the finance officer picks them. A partial payment leaves the rest of an item open;
money beyond what is open stays on the party as an unapplied credit (an advance) until
:func:`match_open_items` sets it against a later charge.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import cast

from sqlalchemy import select
from sqlalchemy.orm import Session, aliased

from models.actor import Actor, Permission
from models.audit import record_audit
from models.documents import DocKind, DocStatus
from models.errors import NotFound, ValidationError
from models.finance import Voucher, VoucherLine
from models.idempotency import idempotent
from models.ledger import money
from models.lookup import get_owned
from models.operations.common import business_time_or_now, dec, open_document
from models.org import Party, PartyKind
from models.outbox import emit
from models.posting import post_voucher
from models.subledger import SIDE_ACCOUNTS, Match, OpenItem, Side, match_oldest_first, open_items, record_matches

#: Above this a single payment is a typing error, not a payment (one trillion yuan).
MAX_AMOUNT = Decimal(10) ** 12
VIA_LABELS = {"bank": "银行", "cash": "现金"}


@dataclass(frozen=True)
class MatchTo:
    """Set ``amount`` of the payment against the open charge on voucher line ``line_id``."""

    line_id: int
    amount: Decimal


@dataclass(frozen=True)
class RecordMoney:
    party_id: int
    amount: Decimal
    #: "bank" (银行存款 1002) or "cash" (库存现金 1001).
    via: str = "bank"
    #: None: set against the open charges, oldest due first. Given: exactly these (the rest of the
    #: money stays unapplied); an empty tuple leaves it all unapplied (an advance).
    matches: tuple[MatchTo, ...] | None = None
    business_time: datetime | None = None
    note: str = ""


@dataclass(frozen=True)
class MatchedItem:
    line_id: int
    document_id: int | None
    number: str | None
    amount: Decimal
    #: What is still open of the item after this match.
    open_after: Decimal


@dataclass(frozen=True)
class MoneyResult:
    document_id: int
    number: str
    kind: str
    party_id: int
    amount: Decimal
    via: str
    voucher_number: str
    matched: list[MatchedItem]
    #: Money not set against any item: an advance the party has with us (or we with it).
    unapplied: Decimal


@dataclass(frozen=True)
class MatchOpenItems:
    party_id: int
    side: Side


@dataclass(frozen=True)
class MatchResult:
    party_id: int
    side: str
    matched: list[MatchedItem]
    #: Open after matching: charges still owed, credits still unapplied (negative).
    open_charges: Decimal
    unapplied_credits: Decimal


def _checked_amount(value: Decimal) -> Decimal:
    if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
        raise ValidationError("金额必须大于零", field="amount")
    if value > MAX_AMOUNT:
        raise ValidationError("金额过大，请核对", field="amount")
    if money(value) != value:
        raise ValidationError("金额最多两位小数（到分）", field="amount")
    return money(value)  # "10" is 10.00 from here on: in the answer as in the books


def _party(session: Session, actor: Actor, party_id: int, kinds: tuple[PartyKind, ...], label: str) -> Party:
    # Locked: two payments of one party at once must not both take the same open amount.
    party = get_owned(session, Party, party_id, actor.org_id, lock=True)
    if party.kind not in kinds:
        raise ValidationError(f"{party.name} 不是{label}", field="party_id")
    return party


@idempotent("money.receive")
def receive_money(session: Session, actor: Actor, cmd: RecordMoney) -> MoneyResult:
    """收款单: money from a customer, into bank or cash, against its receivables."""
    return _record(session, actor, cmd, Side.RECEIVABLE)


@idempotent("money.pay")
def pay_money(session: Session, actor: Actor, cmd: RecordMoney) -> MoneyResult:
    """付款单: money to a supplier or farmer, out of bank or cash, against its payables."""
    return _record(session, actor, cmd, Side.PAYABLE)


def _record(session: Session, actor: Actor, cmd: RecordMoney, side: Side) -> MoneyResult:
    actor.require(Permission.SETTLE)
    amount = _checked_amount(cmd.amount)
    if cmd.via not in VIA_LABELS:
        raise ValidationError("收付方式只能是 bank（银行）或 cash（现金）", field="via")
    receiving = side == Side.RECEIVABLE
    party = _party(session, actor, cmd.party_id,
                   (PartyKind.CUSTOMER,) if receiving else (PartyKind.SUPPLIER, PartyKind.FARMER),
                   "客户" if receiving else "供应商或农户")
    when = business_time_or_now(session, actor, cmd.business_time)
    charges = [item for item in open_items(session, actor.org_id, party.id, side) if item.is_charge]
    wanted = _wanted(cmd.matches, charges, amount) if cmd.matches is not None else None

    kind, event = (DocKind.MONEY_IN, "money.received") if receiving else (DocKind.MONEY_OUT, "money.paid")
    doc = open_document(session, actor, kind, DocStatus.POSTED, when, party_id=party.id, note=cmd.note,
                        total_amount=amount)
    verb = "收款" if receiving else "付款"
    voucher = post_voucher(session, doc, event, facts={"via": cmd.via, "party_kind": party.kind.value},
                           amounts={"amount": amount}, when=when, party_id=party.id,
                           summary=f"{doc.number} {party.name} {VIA_LABELS[cmd.via]}{verb}")
    session.flush()
    credit = _control_line(voucher, side)
    credit_item = OpenItem(line_id=credit.id, account_code=credit.account_code, voucher_date=voucher.voucher_date,
                           due_on=voucher.voucher_date, document_id=doc.id, number=doc.number,
                           summary=voucher.summary, amount=-amount, open=-amount)
    if wanted is None:
        matches = match_oldest_first(charges, [credit_item])
    else:
        matches = [Match(item.line_id, credit.id, take, max(item.voucher_date, voucher.voucher_date),
                         item.voucher_date) for item, take in wanted]
    record_matches(session, actor.org_id, party.id, actor.member_id, matches,
                   {c.line_id: c.account_code for c in charges})
    matched = _matched_items(matches, charges)
    applied = sum((m.amount for m in matches), Decimal(0))
    emit(session, actor.org_id, event, {
        "document_id": doc.id, "number": doc.number, "party_id": party.id, "amount": dec(amount),
        "via": cmd.via, "applied": dec(applied),
    }, document_id=doc.id)
    return MoneyResult(document_id=doc.id, number=doc.number, kind=kind.value, party_id=party.id, amount=amount,
                       via=cmd.via, voucher_number=voucher.number, matched=matched, unapplied=amount - applied)


def _wanted(picks: tuple[MatchTo, ...], charges: list[OpenItem], amount: Decimal) -> list[tuple[OpenItem, Decimal]]:
    """The finance officer's own matching, checked: open charges of this party, each at most once and
    at most its open amount, together at most the money."""
    by_id = {c.line_id: c for c in charges}
    seen: set[int] = set()
    out = []
    for pick in picks:
        item = by_id.get(pick.line_id)
        if item is None:
            raise NotFound("没有这笔未核销的单据（可能已核销，或不属于该往来单位）", field="matches",
                           line_id=pick.line_id)
        if pick.line_id in seen:
            raise ValidationError("同一笔单据只能核销一次", field="matches", line_id=pick.line_id)
        seen.add(pick.line_id)
        take = _checked_amount(pick.amount)
        if take > item.open:
            raise ValidationError(f"核销金额超过未核销余额 {dec(item.open)}", field="matches",
                                  line_id=pick.line_id, open=dec(item.open))
        out.append((item, take))
    if sum((take for _item, take in out), Decimal(0)) > amount:
        raise ValidationError("核销合计超过本次金额", field="matches")
    return out


def _control_line(voucher: Voucher, side: Side) -> VoucherLine:
    for line in voucher.lines:
        if line.account_code in SIDE_ACCOUNTS[side]:
            return line
    raise ValidationError("记账规则没有记到往来科目，无法核销：请检查收付款的记账规则", field="via")


def _matched_items(matches: list[Match], charges: list[OpenItem]) -> list[MatchedItem]:
    by_id = {c.line_id: c for c in charges}
    left = {c.line_id: c.open for c in charges}
    out = []
    for m in matches:
        item = by_id[m.charge_line_id]
        left[item.line_id] -= m.amount
        out.append(MatchedItem(item.line_id, item.document_id, item.number, m.amount, left[item.line_id]))
    return out


@idempotent("money.match")
def match_open_items(session: Session, actor: Actor, cmd: MatchOpenItems) -> MatchResult:
    """核销: set the party's unapplied credits (advances, reversals, payments beyond what was open)
    against its open charges, oldest due first; a reversal against the item it reverses."""
    actor.require(Permission.SETTLE)
    party = get_owned(session, Party, cmd.party_id, actor.org_id, lock=True)
    side = Side(cmd.side)
    items = open_items(session, actor.org_id, party.id, side)
    charges = [i for i in items if i.is_charge]
    credits = [i for i in items if not i.is_charge]
    matches = match_oldest_first(charges, credits, _reversals(session, credits, charges))
    record_matches(session, actor.org_id, party.id, actor.member_id, matches,
                   {c.line_id: c.account_code for c in charges})
    applied = sum((m.amount for m in matches), Decimal(0))
    return MatchResult(
        party_id=party.id, side=side.value, matched=_matched_items(matches, charges),
        open_charges=sum((c.open for c in charges), Decimal(0)) - applied,
        unapplied_credits=sum((c.open for c in credits), Decimal(0)) + applied)


def _reversals(session: Session, credits: list[OpenItem], charges: list[OpenItem]) -> dict[int, int]:
    """Credit line → the charge line it reverses (a red-ink voucher's line on the same account)."""
    if not credits or not charges:
        return {}
    credit_ids = [c.line_id for c in credits]
    charge_ids = {c.line_id for c in charges}
    original = aliased(VoucherLine)
    rows = cast(list[tuple[int, int]], session.execute(
        select(VoucherLine.id, original.id)
        .join(Voucher, Voucher.id == VoucherLine.voucher_id)
        .join(original, (original.voucher_id == Voucher.reverses_voucher_id)
              & (original.account_code == VoucherLine.account_code))
        .where(VoucherLine.id.in_(credit_ids))).all())
    return {credit: charge for credit, charge in rows if charge in charge_ids}


#: Longest credit term a party may be given (days).
MAX_CREDIT_DAYS = 3650


@dataclass(frozen=True)
class SetCreditTerms:
    party_id: int
    credit_days: int
    #: A customer's most open receivables; None: no limit.
    credit_limit: Decimal | None = None


@dataclass(frozen=True)
class CreditTerms:
    party_id: int
    credit_days: int
    credit_limit: Decimal | None


@idempotent("party.credit_terms")
def set_credit_terms(session: Session, actor: Actor, cmd: SetCreditTerms) -> CreditTerms:
    """Give a party credit terms: its items fall due ``credit_days`` after their date (aging by due
    date uses them from the next report on, for old items too). Audited."""
    actor.require(Permission.SETTLE)
    party = get_owned(session, Party, cmd.party_id, actor.org_id, lock=True)
    if isinstance(cmd.credit_days, bool) or not 0 <= cmd.credit_days <= MAX_CREDIT_DAYS:
        raise ValidationError(f"账期应在 0 到 {MAX_CREDIT_DAYS} 天之间", field="credit_days")
    if cmd.credit_limit is not None:
        _checked_amount(cmd.credit_limit)
    before = {"credit_days": party.credit_days,
              "credit_limit": dec(party.credit_limit) if party.credit_limit is not None else None}
    limit = money(cmd.credit_limit) if cmd.credit_limit is not None else None
    party.credit_days, party.credit_limit = cmd.credit_days, limit
    record_audit(session, actor, "party.credit_terms", "party", party.id, before=before,
                 after={"credit_days": cmd.credit_days, "credit_limit": dec(limit) if limit is not None else None})
    return CreditTerms(party.id, party.credit_days, party.credit_limit)
