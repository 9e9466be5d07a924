"""结账 and 反结账: close an accounting period (checks, closing voucher, gap-free numbers, lock) and
reopen it.

Close first takes the org row FOR NO KEY UPDATE. Every posting holds that row (FOR SHARE) from the
read of its catalog snapshot to its commit (models.unit_of_work), so once close has it, every
posting in flight has committed and is seen by the checks, and every posting that begins meanwhile
waits for the close and then reads a snapshot in which the period is closed
(models.posting.ensure_open refuses it). Postings never wait for each other on it. Close also sets
the voucher counter's ``locked_through`` at its high-water mark, so that no new block of numbers
(models.number_blocks) can be taken for the period while it is closed.

At headquarters, close is refused (PERIOD_NODE_BEHIND) while an active edge node may still hold
postings for the period that it has not sent up (``nodes_behind``): the books would close without them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from decimal import Decimal

from sqlalchemy import and_, case, func, select, text, type_coerce, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models import node
from models.actor import Actor, Permission
from models.audit import record_audit
from models.base import utcnow
from models.documents import DocStatus, Document, NumberSequence
from models.errors import InvalidState, PeriodNodeBehind, PeriodNotReady, ValidationError
from models.finance import Account, AccountCategory, Voucher, VoucherLine
from models.idempotency import idempotent
from models.invariants import ledger_matches_balances
from models.nodes import Node
from models.operations.common import dec
from models.org import Org
from models.outbox import emit
from models.periods import (
    CLOSING_EVENT,
    AccountingPeriod,
    PeriodStatus,
    checked_period,
    period_days,
    period_label,
    period_moments,
    previous_period,
)
from models.posting import post_own_voucher, voucher_number
from models.timeutil import SHANGHAI, period_of
from models.types import Money

#: 本年利润: where the income and expense accounts are closed to.
PROFIT_ACCOUNT = "3103"
#: At most this many problems of one kind are listed (the rest are counted).
SHOWN = 10
ZERO = Decimal(0)


@dataclass(frozen=True)
class ClosePeriod:
    period: str


@dataclass(frozen=True)
class ReopenPeriod:
    period: str
    reason: str


@dataclass(frozen=True)
class PeriodState:
    period: str
    status: str
    closed_at: datetime | None
    #: Vouchers in the period (numbered 1..N at close, closing vouchers last).
    voucher_count: int
    closing_voucher_number: str | None
    #: Net profit this close moved to 本年利润 (negative: a loss).
    profit: Decimal
    reason: str = ""


def hold_postings(session: Session, org_id: int) -> None:
    """Take the org row FOR NO KEY UPDATE (PostgreSQL): wait for every posting that holds it FOR SHARE
    (each does from its snapshot read to its commit: models.unit_of_work), and make postings that
    begin meanwhile wait until this commits and then read the closed period from the new snapshot.
    Not FOR UPDATE: that would also stop the foreign-key checks (FOR KEY SHARE) of the counter's own
    refill (models.number_blocks), which this transaction waits for when it numbers its voucher."""
    session.execute(select(Org.id).where(Org.id == org_id).with_for_update(key_share=True))


def lock_voucher_counter(session: Session, org_id: int, period: str) -> None:
    """Take (creating it if need be) the period's voucher counter row, waiting for whoever holds it
    (a refill of a block of numbers) to commit."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    stmt = insert(NumberSequence).values(org_id=org_id, series=node.voucher_series(), period=period, last=0)
    stmt = stmt.on_conflict_do_update(index_elements=["org_id", "series", "period"],
                                      set_={"last": stmt.excluded.last + NumberSequence.last})
    session.execute(stmt)


def _period_row(session: Session, org_id: int, period: str) -> AccountingPeriod | None:
    return session.scalar(select(AccountingPeriod).where(
        AccountingPeriod.org_id == org_id, AccountingPeriod.period == period).with_for_update())


def _closed_periods(session: Session, org_id: int) -> set[str]:
    return set(session.scalars(select(AccountingPeriod.period).where(
        AccountingPeriod.org_id == org_id, AccountingPeriod.status == PeriodStatus.CLOSED)))


def _listed(label: str, found: list[str], total: int) -> str:
    more = f" 等 {total} 项" if total > len(found) else ""
    return f"{label}：{'、'.join(found)}{more}"


def close_problems(session: Session, org_id: int, period: str) -> list[str]:
    """What stands in the way of closing ``period`` (empty: it may be closed)."""
    problems: list[str] = []
    start, end = period_moments(period)
    drafts = select(Document.number).where(
        Document.org_id == org_id, Document.status == DocStatus.DRAFT,
        Document.business_time >= start, Document.business_time < end)
    found = list(session.scalars(drafts.order_by(Document.business_time).limit(SHOWN)))
    if found:
        total = session.scalar(select(func.count()).select_from(drafts.subquery())) or 0
        problems.append(_listed("有未过账的草稿单据（请过账或作废）", found, total))
    unbalanced = list(session.scalars(
        select(Voucher.number).join(VoucherLine, VoucherLine.voucher_id == Voucher.id)
        .where(Voucher.org_id == org_id, Voucher.period == period)
        .group_by(Voucher.id, Voucher.number)
        .having(func.sum(VoucherLine.debit) != func.sum(VoucherLine.credit))))  # all: counted
    if unbalanced:
        problems.append(_listed("凭证借贷不平", unbalanced[:SHOWN], len(unbalanced)))
    ledger = ledger_matches_balances(session, org_id)
    if ledger:
        problems.append(_listed("库存台账与结存不符", ledger[:SHOWN], len(ledger)))
    previous = previous_period(period)
    earlier = session.scalar(select(Voucher.id).where(Voucher.org_id == org_id, Voucher.period < period).limit(1))
    if earlier is not None and previous not in _closed_periods(session, org_id):
        problems.append(f"上一期间{period_label(previous)}尚未结账（请按月顺序结账）")
    return problems


def nodes_behind(session: Session, org_id: int, period: str) -> list[dict[str, object]]:
    """The org's active edge nodes that may still hold postings for ``period`` they have not sent:
    changes still pending at their last exchange, no contact since the period ended (what they did
    in the month may not have come up yet), or no contact ever. Deactivated nodes no longer count."""
    _start, end = period_moments(period)
    behind: list[dict[str, object]] = []
    for code, pending, contact in session.execute(
            select(Node.code, Node.pending_up, Node.last_contact_at)
            .where(Node.org_id == org_id, Node.active.is_(True)).order_by(Node.code)):
        if contact is None:
            text_ = f"站点节点 {code} 从未与总部同步"
        elif pending:
            text_ = f"站点节点 {code} 还有 {pending} 条变更未同步（最后联系 {_local(contact)}）"
        elif contact < end:
            text_ = f"站点节点 {code} 在{period_label(period)}结束后还没有联系过总部（最后联系 {_local(contact)}）"
        else:
            continue
        behind.append({"code": code, "pending_up": int(pending or 0),
                       "last_contact_at": contact.isoformat() if contact else None, "text": text_})
    return behind


def _local(moment: datetime) -> str:
    return moment.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _profit_and_loss(session: Session, org_id: int, last_day: date) -> list[tuple[str, str, Decimal]]:
    """(code, name, debit − credit) of every income and expense account with a balance up to the day.
    Earlier periods are closed (or empty), so this is what the period itself left on them."""
    accounts = {a.code: a.name for a in session.scalars(select(Account).where(
        Account.org_id == org_id, Account.category == AccountCategory.PROFIT_LOSS))}
    if not accounts:
        return []
    rows = session.execute(
        select(VoucherLine.account_code, type_coerce(func.sum(VoucherLine.debit - VoucherLine.credit), Money()))
        .where(VoucherLine.org_id == org_id, VoucherLine.account_code.in_(sorted(accounts)),
               VoucherLine.voucher_date <= last_day)
        .group_by(VoucherLine.account_code).order_by(VoucherLine.account_code))
    return [(code, accounts[code], Decimal(net)) for code, net in rows if net]


def _closing_voucher(session: Session, org_id: int, period: str) -> tuple[Voucher | None, Decimal]:
    """结转损益: every income and expense account to 本年利润; the voucher (None if nothing to close)
    and the profit it moved."""
    _first, last_day = period_days(period)
    balances = _profit_and_loss(session, org_id, last_day)
    if not balances:
        return None, ZERO
    lines: list[VoucherLine] = []
    for code, name, net in balances:
        lines.append(VoucherLine(org_id=org_id, line_no=len(lines) + 1, account_code=code, memo=name,
                                 debit=-net if net < 0 else ZERO, credit=net if net > 0 else ZERO))
    loss = sum((net for _c, _n, net in balances), ZERO)  # debit balance left over: a loss
    lines.append(VoucherLine(org_id=org_id, line_no=len(lines) + 1, account_code=PROFIT_ACCOUNT, memo="本年利润",
                             debit=loss if loss > 0 else ZERO, credit=-loss if loss < 0 else ZERO))
    when = datetime.combine(last_day, time(12), SHANGHAI)
    voucher = post_own_voucher(session, org_id, when, event=CLOSING_EVENT, summary=f"结转损益 {period_label(period)}",
                               lines=lines, amounts={"profit": str(-loss)}, facts={"period": period})
    return voucher, -loss


# Not another edge node's vouchers (记-N2-YYYYMM-…, models.node): merged in at headquarters, they keep
# the numbers they were issued with. Every other voucher of the period is renumbered (books brought in
# with numbers of their own too).
_NOT_ANOTHER_NODES = "NOT (number LIKE :node_numbered AND number NOT LIKE :mine)"
_TEMP_NUMBERS = ("UPDATE vouchers SET number = :prefix || 'T' || CAST(id AS TEXT) "
                 f"WHERE org_id = :org AND period = :period AND {_NOT_ANOTHER_NODES}")
_RANKED = ("(SELECT id, row_number() OVER (ORDER BY CASE WHEN event = :closing THEN 1 ELSE 0 END, "
           "voucher_date, id) AS rn FROM vouchers WHERE org_id = :org AND period = :period "
           f"AND {_NOT_ANOTHER_NODES}) AS r")
_FINAL_NUMBERS = {
    "postgresql": ("UPDATE vouchers SET number = :prefix || CASE WHEN r.rn >= 100000 THEN CAST(r.rn AS TEXT) "
                   f"ELSE lpad(CAST(r.rn AS TEXT), 5, '0') END FROM {_RANKED} WHERE vouchers.id = r.id"),
    "sqlite": f"UPDATE vouchers SET number = :prefix || printf('%05d', r.rn) FROM {_RANKED} WHERE vouchers.id = r.id",
}


def renumber(session: Session, org_id: int, period: str) -> int:
    """Number the period's vouchers 记-YYYYMM-00001… gap-free in (date, id) order, closing vouchers
    last (at node N1: 记-N1-YYYYMM-…; never another node's); return how many there are. Two passes: the
    unique (org, number) holds at every row."""
    session.flush()
    prefix = voucher_number(period, "")
    params = {"org": org_id, "period": period, "prefix": prefix, "mine": prefix + "%",
              "node_numbered": f"记-%-{period}-%", "closing": CLOSING_EVENT}
    session.execute(text(_TEMP_NUMBERS), params)
    dialect = session.get_bind().dialect.name
    session.execute(text(_FINAL_NUMBERS["postgresql" if dialect == "postgresql" else "sqlite"]), params)
    count = session.scalar(select(func.count()).select_from(Voucher).where(
        Voucher.org_id == org_id, Voucher.period == period,
        ~and_(Voucher.number.like(params["node_numbered"]), Voucher.number.not_like(params["mine"])))) or 0
    # Locked at its high-water mark, not at the count: numbers above the count that processes took
    # in blocks (models.number_blocks) stay spent, so after a 反结账 new numbers start above them.
    high = case((NumberSequence.last < count, count), else_=NumberSequence.last)
    session.execute(update(NumberSequence).where(
        NumberSequence.org_id == org_id, NumberSequence.series == node.voucher_series(),
        NumberSequence.period == period,
    ).values(last=high, locked_through=high).execution_options(synchronize_session=False))
    return count


@idempotent("period.close")
def close_period(session: Session, actor: Actor, cmd: ClosePeriod) -> PeriodState:
    """结账: check the period, close income and expenses to 本年利润, renumber its vouchers gap-free
    and lock it. Refused with the list of what fails; nothing is written then."""
    actor.require(Permission.CLOSE_PERIOD)
    period = checked_period(cmd.period)
    if period > period_of(utcnow()):
        raise ValidationError(f"{period_label(period)}还没到，不能结账", field="period")
    hold_postings(session, actor.org_id)  # first: every posting in flight commits before this reads
    row = _period_row(session, actor.org_id, period)
    if row is not None and row.status == PeriodStatus.CLOSED:
        raise InvalidState(f"{period_label(period)}已结账", period=period)
    # Before the other checks: what a node has not sent yet may change their outcome.
    behind = nodes_behind(session, actor.org_id, period)
    if behind:
        raise PeriodNodeBehind(
            f"{period_label(period)}不能结账：站点节点可能还有本期的单据没有同步到总部。\n"
            + "\n".join(str(b["text"]) for b in behind)
            + "\n请等这些节点同步完成后再结账（已不用的节点可在 协同 › 站点节点 停用）。",
            period=period, nodes=behind)
    problems = close_problems(session, actor.org_id, period)
    if problems:
        raise PeriodNotReady(f"{period_label(period)}不能结账：\n" + "\n".join(
            f"{n}. {p}" for n, p in enumerate(problems, 1)), period=period, problems=problems)
    voucher, profit = _closing_voucher(session, actor.org_id, period)
    # The counter row only now: its number came from a block, whose refill takes this row in a
    # statement of its own (models.number_blocks) and would wait for this transaction.
    lock_voucher_counter(session, actor.org_id, period)
    count = renumber(session, actor.org_id, period)
    closing_number = None
    if voucher is not None:
        closing_number = session.scalar(select(Voucher.number).where(Voucher.id == voucher.id))
        session.expire(voucher, ["number"])
    before = {"status": row.status.value if row is not None else PeriodStatus.OPEN.value}
    if row is None:
        row = AccountingPeriod(org_id=actor.org_id, period=period, reason="")
        session.add(row)
    row.status, row.closed_at, row.closed_by = PeriodStatus.CLOSED, utcnow(), actor.member_id
    session.flush()
    record_audit(session, actor, "period.close", "accounting_period", row.id, before=before,
                 after={"status": PeriodStatus.CLOSED.value, "vouchers": count, "profit": dec(profit)})
    emit(session, actor.org_id, "period.closed", {
        "period": period, "vouchers": count, "profit": dec(profit), "closing_voucher": closing_number})
    return PeriodState(period=period, status=row.status.value, closed_at=row.closed_at, voucher_count=count,
                       closing_voucher_number=closing_number, profit=profit)


@idempotent("period.reopen")
def reopen_period(session: Session, actor: Actor, cmd: ReopenPeriod) -> PeriodState:
    """反结账: open a closed period again (the latest closed one first), with a reason. Its closing
    voucher stays; the next close closes only what was posted since."""
    actor.require(Permission.REOPEN_PERIOD)
    period = checked_period(cmd.period)
    reason = (cmd.reason or "").strip()
    if not reason:
        raise ValidationError("反结账须写明原因", field="reason")
    if len(reason) > 256:
        raise ValidationError("原因最多 256 个字", field="reason")
    hold_postings(session, actor.org_id)
    lock_voucher_counter(session, actor.org_id, period)
    row = _period_row(session, actor.org_id, period)
    if row is None or row.status != PeriodStatus.CLOSED:
        raise InvalidState(f"{period_label(period)}没有结账，无需反结账", period=period)
    later = sorted(p for p in _closed_periods(session, actor.org_id) if p > period)
    if later:
        raise InvalidState(f"请先反结账{period_label(later[-1])}（从最后结账的期间起逐月反结账）", period=period,
                           later=later)
    session.execute(update(NumberSequence).where(
        NumberSequence.org_id == actor.org_id, NumberSequence.series == node.voucher_series(),
        NumberSequence.period == period,
    ).values(locked_through=None).execution_options(synchronize_session=False))
    row.status, row.reopened_at, row.reopened_by, row.reason = (
        PeriodStatus.OPEN, utcnow(), actor.member_id, reason)
    count = session.scalar(select(func.count()).select_from(Voucher).where(
        Voucher.org_id == actor.org_id, Voucher.period == period)) or 0
    record_audit(session, actor, "period.reopen", "accounting_period", row.id,
                 before={"status": PeriodStatus.CLOSED.value}, after={"status": PeriodStatus.OPEN.value},
                 reason=reason)
    emit(session, actor.org_id, "period.reopened", {"period": period, "reason": reason})
    return PeriodState(period=period, status=row.status.value, closed_at=row.closed_at, voucher_count=count,
                       closing_voucher_number=None, profit=ZERO, reason=reason)
