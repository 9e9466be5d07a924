"""Change how postings hit the books: new rule version, reverse + re-post, audited."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.audit import record_audit
from models.base import utcnow
from models.chart import EVENT_AMOUNTS
from models.errors import MappingMissing, ValidationError
from models.finance import Account, MappingRule, Voucher, VoucherStatus
from models.idempotency import idempotent
from models.lookup import get_owned
from models.outbox import emit
from models.posting import matching_rule, repost_voucher, reverse_voucher
from models.timeutil import SHANGHAI

#: The figures a "total" is the sum of, per event.
_TOTAL_PARTS: dict[str, tuple[str, ...]] = {"receipt.posted": ("goods", "tax"), "shipment.posted": ("revenue", "tax")}


@dataclass(frozen=True)
class RuleLine:
    account: str
    side: str
    amount: str
    memo: str = ""


@dataclass(frozen=True)
class ChangeMappingRule:
    rule_id: int
    lines: tuple[RuleLine, ...]
    condition: tuple[tuple[str, str], ...] = ()
    priority: int | None = None
    name: str | None = None
    #: Re-post vouchers dated on or after this day; default the first day of this month.
    repost_from: date | None = None
    reason: str = ""


@dataclass(frozen=True)
class MappingChange:
    rule_id: int
    version: int
    reposted: int
    reversal_numbers: list[str]
    new_numbers: list[str]


def validate_rule_lines(session: Session, org_id: int, event: str, lines: tuple[RuleLine, ...]) -> None:
    """Reject unknown accounts, sides or figures, and rules that cannot balance."""
    if event not in EVENT_AMOUNTS:
        raise ValidationError(f"未知的记账事件：{event}", field="event")
    if not lines:
        raise ValidationError("规则至少要有一行", field="lines")
    known = set(session.scalars(select(Account.code).where(Account.org_id == org_id, Account.active.is_(True))))
    per_amount: dict[str, int] = {}
    for line in lines:
        if line.account not in known:
            raise ValidationError(f"科目 {line.account} 不存在", field="lines", account=line.account)
        if line.side not in ("debit", "credit"):
            raise ValidationError("借贷方向只能是 debit 或 credit", field="lines")
        if line.amount not in EVENT_AMOUNTS[event]:
            raise ValidationError(
                f"金额“{line.amount}”不是 {event} 提供的数字：{'、'.join(sorted(EVENT_AMOUNTS[event]))}",
                field="lines",
            )
        per_amount[line.amount] = per_amount.get(line.amount, 0) + (1 if line.side == "debit" else -1)
    # A rule balances for every possible set of figures only if each figure is debited as often
    # as it is credited, once a total is read as the sum of its parts (goods + tax, revenue + tax).
    total = per_amount.pop("total", 0)
    for part in _TOTAL_PARTS.get(event, ()):
        per_amount[part] = per_amount.get(part, 0) + total
    if any(per_amount.values()):
        raise ValidationError("规则借贷不平：每个金额须借贷各一次", field="lines")


@idempotent("change_mapping_rule")
def change_mapping_rule(session: Session, actor: Actor, cmd: ChangeMappingRule) -> MappingChange:
    """Replace a rule by a new version and re-post the vouchers it affects (reverse + new)."""
    actor.require(Permission.MAPPING)
    old = get_owned(session, MappingRule, cmd.rule_id, actor.org_id, lock=True)
    if not old.active:
        raise ValidationError("只能修改当前生效的规则版本", field="rule_id")
    validate_rule_lines(session, actor.org_id, old.event, cmd.lines)
    new = MappingRule(
        org_id=actor.org_id, event=old.event, name=cmd.name or old.name,
        condition=dict(cmd.condition) if cmd.condition else dict(old.condition),
        priority=old.priority if cmd.priority is None else cmd.priority,
        lines=[{"account": ln.account, "side": ln.side, "amount": ln.amount, "memo": ln.memo} for ln in cmd.lines],
        version=old.version + 1, family_id=old.family_id or old.id,
    )
    old.active = False
    session.add(new)
    session.flush()
    record_audit(session, actor, "mapping_rule.changed", "mapping_rule", new.family_id,
                 before=_rule_view(old), after=_rule_view(new), reason=cmd.reason)

    now = utcnow()
    since = cmd.repost_from or now.astimezone(SHANGHAI).date().replace(day=1)
    family = select(MappingRule.id).where(MappingRule.family_id == new.family_id, MappingRule.id != new.id)
    affected = list(session.scalars(
        select(Voucher).where(
            Voucher.org_id == actor.org_id, Voucher.mapping_rule_id.in_(family),
            Voucher.status == VoucherStatus.POSTED, Voucher.reverses_voucher_id.is_(None),
            Voucher.voucher_date >= since,
        ).order_by(Voucher.id).with_for_update()
    ))
    reversals, reposts = [], []
    for voucher in affected:
        rule: MappingRule | None
        try:
            rule = matching_rule(session, actor.org_id, voucher.event, voucher.facts)
        except MappingMissing:
            rule = new if _matches(new, voucher.facts) else None
        if rule is None:
            raise MappingMissing(f"凭证 {voucher.number} 在新规则下没有匹配的记账规则", voucher=voucher.number)
        reversals.append(reverse_voucher(session, voucher, when=now, summary=f"冲销 {voucher.number}（规则变更）"))
        reposts.append(repost_voucher(session, voucher, rule, when=now))
    session.flush()
    emit(session, actor.org_id, "mapping_rule.changed", {
        "rule_id": new.id, "family_id": new.family_id, "version": new.version, "reposted": len(reposts),
    })
    return MappingChange(
        rule_id=new.id, version=new.version, reposted=len(reposts),
        reversal_numbers=[v.number for v in reversals], new_numbers=[v.number for v in reposts],
    )


def _matches(rule: MappingRule, facts: dict[str, Any]) -> bool:
    return all(facts.get(k) == v for k, v in rule.condition.items())


def _rule_view(rule: MappingRule) -> dict[str, Any]:
    return {"id": rule.id, "version": rule.version, "event": rule.event, "name": rule.name,
            "condition": rule.condition, "priority": rule.priority, "lines": rule.lines}


__all__ = ["ChangeMappingRule", "MappingChange", "RuleLine", "change_mapping_rule"]
