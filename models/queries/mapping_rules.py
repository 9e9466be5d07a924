"""记账规则 (mapping rules) for the people who maintain them: the rules in force, one rule with its
versions, and the preview of a change — which posted vouchers
:func:`models.operations.mapping.change_mapping_rule` would reverse and re-post, and the lines each
would get — computed with the operation's own selection and rule choice, writing nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from models.chart import EVENT_AMOUNTS
from models.errors import MappingMissing, UnbalancedVoucher, ValidationError
from models.finance import Account, MappingRule, Voucher, VoucherStatus
from models.lookup import get_owned
from models.operations.mapping import RuleLine, validate_rule_lines
from models.posting import choose_rule, voucher_line_values
from models.timeutil import SHANGHAI

ZERO = Decimal("0.00")
#: What each posting event is, for the people who read the rules.
EVENT_LABELS = {
    "receipt.posted": "入库", "shipment.posted": "出库", "transfer.dispatched": "调拨发出",
    "transfer.received": "调拨收货", "count.posted": "盘点", "settlement.paid": "农户结算付款",
    "money.received": "收款", "money.paid": "付款", "opening.posted": "期初库存",
}
#: The figures an event supplies, in Chinese.
AMOUNT_LABELS = {"goods": "货款", "tax": "税额", "total": "价税合计", "revenue": "收入", "cost": "成本",
                 "gain": "盘盈", "loss": "盘亏", "amount": "金额",
                 "value": "金额"}
SIDE_LABELS = {"debit": "借", "credit": "贷"}
#: A rule's condition in Chinese: the posting's facts and their values (an unknown one shows as is).
CONDITION_LABELS = {"party_kind": "往来类型", "via": "收付方式", "site_kind": "地点类型", "item_code": "商品编码",
                    "from_site_kind": "发出地点类型", "to_site_kind": "收货地点类型"}
VALUE_LABELS = {"farmer": "农户", "supplier": "供应商", "customer": "客户", "cash": "现金", "bank": "银行",
                "collection_point": "收购点", "warehouse": "仓库", "store": "门店", "edge": "边缘节点",
                "in_transit": "在途"}
#: A preview lists at most this many vouchers (it counts them all).
PREVIEW_SHOWN = 100


@dataclass(frozen=True)
class RuleLineView:
    account: str
    account_name: str
    side: str
    amount: str
    memo: str


@dataclass(frozen=True)
class RuleView:
    rule_id: int
    family_id: int
    event: str
    name: str
    condition: dict[str, Any]
    priority: int
    version: int
    active: bool
    created_at: datetime
    lines: list[RuleLineView]


@dataclass(frozen=True)
class AccountChoice:
    code: str
    name: str


def _accounts(session: Session, org_id: int) -> dict[str, str]:
    return {code: name for code, name in session.execute(
        select(Account.code, Account.name).where(Account.org_id == org_id, Account.active.is_(True))
        .order_by(Account.code))}


def _view(rule: MappingRule, names: dict[str, str]) -> RuleView:
    return RuleView(
        rule.id, rule.family_id or rule.id, rule.event, rule.name, dict(rule.condition or {}), rule.priority,
        rule.version, rule.active, rule.created_at,
        [RuleLineView(ln["account"], names.get(ln["account"], ""), ln["side"], ln["amount"], ln.get("memo", ""))
         for ln in rule.lines])


def mapping_rules(session: Session, org_id: int) -> list[RuleView]:
    """The rules in force, by event and then as posting tries them (priority, newest first)."""
    names = _accounts(session, org_id)
    rules = session.scalars(select(MappingRule).where(MappingRule.org_id == org_id, MappingRule.active.is_(True))
                            .order_by(MappingRule.event, MappingRule.priority.desc(), MappingRule.id.desc()))
    return [_view(r, names) for r in rules]


@dataclass(frozen=True)
class RuleDetail:
    rule: RuleView
    #: Every version of the rule, newest first (the old ones posted the vouchers they posted).
    versions: list[RuleView]
    #: The figures the rule's event supplies (what a line's amount may name).
    amounts: list[str]
    accounts: list[AccountChoice]


def mapping_rule(session: Session, org_id: int, rule_id: int) -> RuleDetail:
    """One rule of the org with its versions, the figures it may use and the accounts to choose from."""
    rule = get_owned(session, MappingRule, rule_id, org_id)
    names = _accounts(session, org_id)
    family = rule.family_id or rule.id
    versions = session.scalars(select(MappingRule).where(
        MappingRule.org_id == org_id, (MappingRule.family_id == family) | (MappingRule.id == family))
        .order_by(MappingRule.version.desc()).limit(50))
    return RuleDetail(_view(rule, names), [_view(v, names) for v in versions],
                      sorted(EVENT_AMOUNTS.get(rule.event, ())),
                      [AccountChoice(c, n) for c, n in names.items()])


@dataclass(frozen=True)
class PreviewLine:
    account: str
    account_name: str
    debit: Decimal
    credit: Decimal


@dataclass(frozen=True)
class RepostPreview:
    voucher_id: int
    number: str
    voucher_date: date
    summary: str
    before: list[PreviewLine]
    after: list[PreviewLine]


@dataclass(frozen=True)
class MappingPreview:
    rule_id: int
    event: str
    repost_from: date
    #: How many posted vouchers the change would reverse and re-post (all of them, not only those shown).
    count: int
    vouchers: list[RepostPreview]
    #: The first voucher the new lines could not book (no rule would match it, or it would not
    #: balance): the change would be refused with this; empty when it would go through.
    problem: str


@dataclass(frozen=True)
class _NewRule:
    """The changed rule as posting would see it: in the old one's place, newer than every rule."""

    id: int
    condition: dict[str, Any]
    lines: list[dict[str, str]]
    priority: int


def default_repost_from(now: datetime) -> date:
    """The operation's default: vouchers dated from the first day of this month (Beijing time)."""
    return now.astimezone(SHANGHAI).date().replace(day=1)


def preview_mapping_change(session: Session, org_id: int, rule_id: int, lines: tuple[RuleLine, ...],
                           repost_from: date, priority: int | None = None) -> MappingPreview:
    """What changing the rule to ``lines`` would do to the books, without writing: the vouchers
    re-posted (the operation's selection), each with its lines now and under the rule then in force."""
    old = get_owned(session, MappingRule, rule_id, org_id)
    if not old.active:
        raise ValidationError("只能修改当前生效的规则版本", field="rule_id")
    validate_rule_lines(session, org_id, old.event, lines)
    names = _accounts(session, org_id)
    new = _NewRule(id=2**62, condition=dict(old.condition or {}),
                   lines=[{"account": ln.account, "side": ln.side, "amount": ln.amount, "memo": ln.memo}
                          for ln in lines],
                   priority=old.priority if priority is None else priority)
    others = list(session.scalars(select(MappingRule).where(
        MappingRule.org_id == org_id, MappingRule.event == old.event, MappingRule.active.is_(True),
        MappingRule.id != old.id)))
    in_force: list[Any] = sorted([*others, new], key=lambda r: (-r.priority, -r.id))
    family = old.family_id or old.id
    family_ids = select(MappingRule.id).where(MappingRule.family_id == family)  # the operation's selection
    where = (Voucher.org_id == org_id, Voucher.mapping_rule_id.in_(family_ids),
             Voucher.status == VoucherStatus.POSTED, Voucher.reverses_voucher_id.is_(None),
             Voucher.voucher_date >= repost_from)
    count = session.scalar(select(func.count()).select_from(Voucher).where(*where)) or 0
    shown = session.scalars(select(Voucher).where(*where).options(selectinload(Voucher.lines))
                            .order_by(Voucher.id).limit(PREVIEW_SHOWN))
    out: list[RepostPreview] = []
    problem = ""
    for voucher in shown:
        before = [PreviewLine(ln.account_code, names.get(ln.account_code, ""), ln.debit, ln.credit)
                  for ln in sorted(voucher.lines, key=lambda ln: ln.line_no)]
        after: list[PreviewLine] = []
        try:
            rule = choose_rule(in_force, voucher.event, voucher.facts)
            amounts = {k: Decimal(v) for k, v in voucher.amounts.items()}
            party = voucher.lines[0].party_id if voucher.lines else None
            after = [PreviewLine(v["account_code"], names.get(v["account_code"], ""), v["debit"], v["credit"])
                     for v in voucher_line_values(rule, amounts, 1, party, voucher.event)]
        except (MappingMissing, UnbalancedVoucher) as exc:
            problem = problem or f"凭证 {voucher.number}：{exc.message}"
        out.append(RepostPreview(voucher.id, voucher.number, voucher.voucher_date, voucher.summary or "",
                                 before, after))
    return MappingPreview(old.id, old.event, repost_from, count, out, problem)
