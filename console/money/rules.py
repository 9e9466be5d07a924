"""记账规则: the rules in force; edit one rule's lines, see which posted vouchers the change would
reverse and re-post (and their new lines), then confirm (mapping.change_mapping_rule)."""

from __future__ import annotations

from datetime import date
from typing import Any

from flask import request, url_for
from flask.typing import ResponseReturnValue

from console.blueprint import bp
from console.forms import new_request_id, request_key
from console.money import forms
from console.web import actor, call, done, member_page, read_db, render
from models.actor import Permission
from models.base import utcnow
from models.errors import ValidationError
from models.operations.mapping import ChangeMappingRule, RuleLine, change_mapping_rule
from models.queries.mapping_rules import (
    AMOUNT_LABELS,
    CONDITION_LABELS,
    EVENT_LABELS,
    SIDE_LABELS,
    VALUE_LABELS,
    RuleDetail,
    default_repost_from,
    mapping_rule,
    mapping_rules,
    preview_mapping_change,
)

#: Rows of the edit form: a rule's lines and room for more.
MAX_LINES = 8


@bp.get("/money/rules")
@member_page(Permission.VIEW_FINANCE)
def money_rules() -> ResponseReturnValue:
    """The mapping rules in force, by event."""
    return render("console/money/rules.html", rules=mapping_rules(read_db(), actor().org_id), events=EVENT_LABELS,
                  amounts=AMOUNT_LABELS, sides=SIDE_LABELS, facts=CONDITION_LABELS, values=VALUE_LABELS)


def _lines(detail: RuleDetail) -> tuple[RuleLine, ...]:
    """The edit form's lines: rows with an account; each field one of the offered choices."""
    accounts = {a.code for a in detail.accounts}
    out = []
    for n in range(MAX_LINES):
        account = (request.form.get(f"account-{n}") or "").strip()
        if not account:
            continue
        side = request.form.get(f"side-{n}", "")
        figure = request.form.get(f"amount-{n}", "")
        if account not in accounts or side not in SIDE_LABELS or figure not in detail.amounts:
            raise ValidationError(f"第 {n + 1} 行的科目、方向或金额无效", field="lines")
        out.append(RuleLine(account, side, figure, (request.form.get(f"memo-{n}") or "").strip()[:64]))
    if not out:
        raise ValidationError("规则至少要有一行", field="lines")
    return tuple(out)


def _repost_from() -> date:
    value = forms.day(request.form.get("repost_from"), "repost_from", default_repost_from(utcnow()))
    if value > forms.today():
        raise ValidationError("重记起始日不能晚于今天", field="repost_from")
    return value


def _form(detail: RuleDetail, **context: Any) -> ResponseReturnValue:
    return render("console/money/rule.html", detail=detail, events=EVENT_LABELS, amounts=AMOUNT_LABELS,
                  sides=SIDE_LABELS, facts=CONDITION_LABELS, values=VALUE_LABELS, max_lines=MAX_LINES,
                  can_edit=actor().can(Permission.MAPPING), **context)


@bp.get("/money/rules/<int:rule_id>")
@member_page(Permission.VIEW_FINANCE)
def money_rule(rule_id: int) -> ResponseReturnValue:
    """One rule: its lines (editable), its versions."""
    detail = mapping_rule(read_db(), actor().org_id, rule_id)
    rows = [{"account": ln.account, "side": ln.side, "amount": ln.amount, "memo": ln.memo} for ln in detail.rule.lines]
    return _form(detail, rows=rows, repost_from=default_repost_from(utcnow()), preview=None, reason="")


@bp.post("/money/rules/<int:rule_id>/preview")
@member_page(Permission.VIEW_FINANCE)
def money_rule_preview(rule_id: int) -> ResponseReturnValue:
    """The changed lines and what they would re-post; writes nothing. Bad lines: the form again, 422."""
    session, org_id = read_db(), actor().org_id
    detail = mapping_rule(session, org_id, rule_id)
    rows = [{"account": request.form.get(f"account-{n}", ""), "side": request.form.get(f"side-{n}", ""),
             "amount": request.form.get(f"amount-{n}", ""), "memo": request.form.get(f"memo-{n}", "")[:64]}
            for n in range(MAX_LINES)]
    reason = (request.form.get("reason") or "").strip()[:200]
    try:
        lines = _lines(detail)
        since = _repost_from()
        preview = preview_mapping_change(session, org_id, rule_id, lines, since)
    except ValidationError as exc:
        return _form(detail, rows=rows, repost_from=request.form.get("repost_from", ""), preview=None,
                     reason=reason, error=exc.message, status=422)
    return _form(detail, rows=rows, repost_from=since, preview=preview, reason=reason,
                 request_id=new_request_id())


@bp.post("/money/rules/<int:rule_id>")
@member_page(Permission.VIEW_FINANCE)
def money_rule_change(rule_id: int) -> ResponseReturnValue:
    """Confirm the previewed change: a new rule version, the vouchers reversed and re-posted."""
    key = request_key(required=True)
    detail = mapping_rule(read_db(), actor().org_id, rule_id)
    cmd = ChangeMappingRule(rule_id=rule_id, lines=_lines(detail), repost_from=_repost_from(),
                            reason=(request.form.get("reason") or "").strip()[:200])
    result = call(change_mapping_rule, cmd, key=key)
    return done(f"规则已更新为第 {result.version} 版，重记凭证 {result.reposted} 张",
                url_for("console.money_rule", rule_id=result.rule_id))
