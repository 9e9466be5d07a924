"""Vouchers from mapping rules: the accounting half of every posting.

An operation supplies *facts* (what kind of party, site, item) and *amounts* (named figures:
goods, tax, total, cost …). The active mapping rule for the event whose condition matches
the facts turns them into balanced lines. Posted vouchers are never edited: a correction
is a red-ink reversal (same accounts, negated amounts) plus, where needed, a new voucher.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any, NamedTuple, Protocol, TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from models import node
from models.catalog_snapshot import CatalogSnapshot
from models.documents import Document
from models.errors import MappingMissing, PeriodClosed, UnbalancedVoucher
from models.finance import MappingRule, Voucher, VoucherLine, VoucherStatus
from models.numbering import allocate
from models.periods import period_label
from models.posting_writer import table_of
from models.subledger import PAYABLE_ACCOUNTS, refresh_farmer_payables
from models.timeutil import local_date, period_of
from models.unit_of_work import UnitOfWork, catalog_of, posting_catalog

ZERO = Decimal(0)


def matching_rule(session: Session, org_id: int, event: str, facts: dict[str, Any]) -> MappingRule:
    """Return the active rule for ``event`` whose condition the facts satisfy, best first."""
    rules = session.scalars(
        select(MappingRule)
        .where(MappingRule.org_id == org_id, MappingRule.event == event, MappingRule.active.is_(True))
        .order_by(MappingRule.priority.desc(), MappingRule.id.desc())
    )
    return choose_rule(rules, event, facts)


class RuleLike(Protocol):
    """A mapping rule as the ORM row or the catalog snapshot's copy (models.catalog_snapshot.RuleInfo)."""

    @property
    def id(self) -> int: ...
    @property
    def condition(self) -> Mapping[str, Any]: ...
    @property
    def lines(self) -> Sequence[Mapping[str, str]]: ...


RuleT = TypeVar("RuleT", bound=RuleLike)


def choose_rule(rules: Iterable[RuleT], event: str, facts: dict[str, Any]) -> RuleT:
    """The first of ``rules`` (best first) whose condition the facts satisfy, else MappingMissing."""
    for rule in rules:
        if all(facts.get(key) == value for key, value in (rule.condition or {}).items()):
            return rule
    raise MappingMissing(f"没有匹配的记账规则：{event}", event=event, facts=facts)


def voucher_line_values(rule: RuleLike, amounts: dict[str, Decimal], sign: int, party_id: int | None,
                        event: str) -> list[dict[str, Any]]:
    """The balanced lines (as column values) a rule makes of the figures; UnbalancedVoucher if they are not."""
    lines: list[dict[str, Any]] = []
    for spec in rule.lines:
        amount = amounts.get(spec["amount"], ZERO) * sign
        if amount == 0:
            continue
        lines.append({
            "line_no": len(lines) + 1, "account_code": spec["account"],
            "debit": amount if spec["side"] == "debit" else ZERO,
            "credit": amount if spec["side"] == "credit" else ZERO,
            "party_id": party_id, "memo": spec.get("memo", ""),
        })
    debit = sum((line["debit"] for line in lines), ZERO)
    credit = sum((line["credit"] for line in lines), ZERO)
    if debit != credit:
        raise UnbalancedVoucher(f"凭证借贷不平：借 {debit} 贷 {credit}（{event}）", event=event)
    return lines


def _lines_for(org_id: int, rule: RuleLike, amounts: dict[str, Decimal], sign: int, party_id: int | None,
               event: str) -> list[VoucherLine]:
    return [VoucherLine(org_id=org_id, **values)
            for values in voucher_line_values(rule, amounts, sign, party_id, event)]


#: Digits of a voucher's sequence number (记-202611-00012).
VOUCHER_SEQ_WIDTH = 5


def voucher_number(period: str, seq: int | str) -> str:
    """记-202611-00012: the voucher's human number (``seq`` a number, or text already padded: the
    posting writer's padded text); 记-N1-202611-00012 at edge node N1 (models.node)."""
    word = "记" if not node.is_edge() else f"记-{node.current()}"
    return f"{word}-{period}-{seq:0{VOUCHER_SEQ_WIDTH}d}" if isinstance(seq, int) else f"{word}-{period}-{seq}"


def ensure_open(catalog: CatalogSnapshot, period: str) -> None:
    """PeriodClosed if ``period`` is closed (结账), or earlier than the latest closed period (the books
    are closed through it: an empty earlier month must not change the closed one's opening balances).
    A posting's snapshot is never older than a close: it is read with the org row held until the
    posting commits, and a close takes that row first (models.unit_of_work)."""
    if not catalog.closed_periods:
        return
    latest = max(catalog.closed_periods)
    if period in catalog.closed_periods:
        raise PeriodClosed(f"{period_label(period)}已结账，不能再记入；请按本期日期做更正", period=period)
    if period < latest:
        raise PeriodClosed(f"账已结到{period_label(latest)}，{period_label(period)}不能再记入；请按本期日期做更正",
                           period=period, closed_through=latest)


def _new_voucher(session: Session, org_id: int, when: datetime, **fields: Any) -> Voucher:
    period = period_of(when)
    ensure_open(posting_catalog(session, org_id), period)
    number = voucher_number(period, allocate(session, org_id, node.voucher_series(), period))
    document_id = fields.get("document_id")
    lines = fields.get("lines", ())
    for line in lines:
        line.voucher_date = local_date(when)
        line.document_id = document_id  # a reversal may name another document than the original
    voucher = Voucher(org_id=org_id, number=number, period=period, voucher_date=local_date(when), **fields)
    session.add(voucher)
    if document_id is not None and any(line.account_code in PAYABLE_ACCOUNTS for line in lines):
        # A reversal or a re-post of a farmer's receipt changes what she is owed.
        session.flush()
        refresh_farmer_payables(session, org_id, [document_id])
    return voucher


def post_own_voucher(session: Session, org_id: int, when: datetime, *, event: str, summary: str,
                     lines: list[VoucherLine], amounts: dict[str, str], facts: dict[str, Any]) -> Voucher:
    """A voucher of the books themselves, not of a document and not under a mapping rule (结转损益)."""
    return _new_voucher(session, org_id, when, document_id=None, event=event, mapping_rule_id=None, amounts=amounts,
                        facts=facts, status=VoucherStatus.POSTED, summary=summary, lines=lines)


_vouchers, _voucher_lines = table_of(Voucher), table_of(VoucherLine)


class QueuedVoucher(NamedTuple):
    number: str
    #: Its lines as column values (what :func:`models.subledger.payable_of` reads).
    lines: list[dict[str, Any]]


def queue_voucher(uow: UnitOfWork, *, voucher_id: int, seq: str, when: datetime, document_id: int, event: str,
                  facts: dict[str, Any], amounts: dict[str, Decimal], summary: str,
                  party_id: int | None = None) -> QueuedVoucher:
    """:func:`post_voucher` on the posting writer: queue the voucher and its lines under the matching
    rule of the catalog snapshot, numbered ``seq`` (from PostingWriter.numbers) and with the id
    allocated with the operation's first reads; return its number and lines."""
    rule = choose_rule(uow.catalog.rules.get(event, ()), event, facts)
    lines = voucher_line_values(rule, amounts, 1, party_id, event)
    period = period_of(when)
    ensure_open(uow.catalog, period)
    number = voucher_number(period, seq)
    org_id = uow.actor.org_id
    uow.writer.insert(
        _vouchers, id=voucher_id, org_id=org_id, number=number, period=period, voucher_date=local_date(when),
        document_id=document_id, event=event, mapping_rule_id=rule.id,
        amounts={k: str(v) for k, v in amounts.items()}, facts=facts, status=VoucherStatus.POSTED,
        reverses_voucher_id=None, summary=summary)
    for values in lines:
        uow.writer.insert(_voucher_lines, org_id=org_id, voucher_id=voucher_id, voucher_date=local_date(when),
                          document_id=document_id, **values)
    return QueuedVoucher(number, lines)


def post_voucher(
    session: Session,
    document: Document,
    event: str,
    *,
    facts: dict[str, Any],
    amounts: dict[str, Decimal],
    when: datetime,
    summary: str,
    party_id: int | None = None,
) -> Voucher:
    """Post the voucher for a document event under the matching mapping rule (read from the org's
    catalog snapshot: the same active rules, best first, as :func:`matching_rule` queries)."""
    rules = catalog_of(session, document.org_id).rules.get(event, ())
    rule = choose_rule(rules, event, facts)
    lines = _lines_for(document.org_id, rule, amounts, 1, party_id, event)
    return _new_voucher(
        session, document.org_id, when,
        document_id=document.id, event=event, mapping_rule_id=rule.id,
        amounts={k: str(v) for k, v in amounts.items()}, facts=facts,
        status=VoucherStatus.POSTED, summary=summary, lines=lines,
    )


def reverse_voucher(
    session: Session, voucher: Voucher, *, when: datetime, summary: str, document_id: int | None = None
) -> Voucher:
    """Post a red-ink reversal of ``voucher`` and mark the original reversed."""
    lines = [
        VoucherLine(
            org_id=line.org_id, line_no=line.line_no, account_code=line.account_code,
            debit=-line.debit, credit=-line.credit, party_id=line.party_id, memo=line.memo,
        )
        for line in voucher.lines
    ]
    voucher.status = VoucherStatus.REVERSED
    return _new_voucher(
        session, voucher.org_id, when,
        document_id=document_id or voucher.document_id, event=voucher.event,
        mapping_rule_id=voucher.mapping_rule_id, facts=voucher.facts,
        amounts={k: str(-Decimal(v)) for k, v in voucher.amounts.items()},
        status=VoucherStatus.POSTED, reverses_voucher_id=voucher.id, summary=summary, lines=lines,
    )


def repost_voucher(session: Session, voucher: Voucher, rule: MappingRule, *, when: datetime) -> Voucher:
    """Post ``voucher``'s figures again under ``rule`` (after reversing the original)."""
    amounts = {k: Decimal(v) for k, v in voucher.amounts.items()}
    lines = _lines_for(voucher.org_id, rule, amounts, 1, voucher.lines[0].party_id if voucher.lines else None,
                       voucher.event)
    return _new_voucher(
        session, voucher.org_id, when,
        document_id=voucher.document_id, event=voucher.event, mapping_rule_id=rule.id,
        amounts=dict(voucher.amounts), facts=voucher.facts, status=VoucherStatus.POSTED,
        summary=f"按新规则重记：{voucher.summary}", lines=lines,
    )
