"""协同 · 规则: the list (enabled, last fired), the sentence builder, its sandbox, save and switch."""

from __future__ import annotations

from typing import Any

from flask import request, url_for
from flask.typing import ResponseReturnValue

from console.blueprint import bp
from console.collaboration.sentence import (
    ACTION_LABELS,
    COMPARISONS,
    DIRECTIONS,
    FIELDS,
    JOINS,
    NAMED_FIELDS,
    Sentence,
    describe,
    edit,
    from_form,
    from_rule,
    to_spec,
)
from console.forms import new_request_id, request_key
from console.web import actor, call, can_anywhere, done, member_page, read_db, render
from models.actor import Permission
from models.errors import DomainError
from models.operations.rules import TRIGGERS, SaveRule, SwitchRule, save_rule, switch_rule
from models.org import ROLE_LABELS
from models.queries.desk_pickers import desk_pickers
from models.queries.workflow_config import list_rules, list_webhooks, rule_of, rule_sandbox, rules_last_fired

#: How far back the console's sandbox replays a draft.
SANDBOX_DAYS = 7
#: Roles a rule may notify or give a to-do (staff: a rule never messages a farmer).
NOTIFY_ROLES = {k: v for k, v in ROLE_LABELS.items() if k != "farmer"}


def _named_ids() -> dict[str, dict[str, str]]:
    """field → id (as the form types it) → name: the organisation's active sites, items and parties."""
    pickers = desk_pickers(read_db(), actor())
    parties = pickers.suppliers + pickers.customers
    return {"site_id": {str(c.id): c.label for c in pickers.sites},
            "item_id": {str(c.id): c.label for c in pickers.items},
            "party_id": {str(c.id): c.label for c in parties}}


@bp.get("/collaboration/")
@member_page(Permission.RULES)
def collaboration() -> ResponseReturnValue:
    who, db = actor(), read_db()
    rules = list_rules(db, who)
    fired = rules_last_fired(db, who)
    names = _named_ids()
    lines = [{"rule": r, "fired": fired.get(r.id), "trigger": TRIGGERS.get(r.trigger, r.trigger),
              "sentence": describe(TRIGGERS.get(r.trigger, r.trigger), r.condition or {}, r.actions or [],
                                   ROLE_LABELS, names)} for r in rules]
    return render("console/collaboration/rules.html", lines=lines, may_change=can_anywhere(who, Permission.ROLES))


def _builder(sentence: Sentence, *, status: int = 200, error: str | None = None,
             sandbox: dict[str, Any] | None = None) -> ResponseReturnValue:
    who = actor()
    webhooks = [w for w in list_webhooks(read_db(), who) if w.active]
    return render("console/collaboration/rule_form.html", status=status, s=sentence, error=error, sandbox=sandbox,
                  triggers=TRIGGERS, fields=FIELDS, comparisons=COMPARISONS, joins=JOINS, actions=ACTION_LABELS,
                  roles=NOTIFY_ROLES, directions=DIRECTIONS, webhooks=webhooks, days=SANDBOX_DAYS,
                  named=_named_ids(), named_fields=NAMED_FIELDS,
                  may_change=can_anywhere(who, Permission.ROLES), request_id=new_request_id())


@bp.get("/collaboration/rules/new")
@member_page(Permission.RULES)
def collaboration_rule_new() -> ResponseReturnValue:
    return _builder(Sentence())


@bp.get("/collaboration/rules/<int:rule_id>")
@member_page(Permission.RULES)
def collaboration_rule_edit(rule_id: int) -> ResponseReturnValue:
    rule = rule_of(read_db(), actor(), rule_id)  # another org's id: NotFound → the Chinese error page
    return _builder(from_rule(rule.id, rule.code, rule.name, rule.trigger, rule.condition or {}, rule.actions or []))


@bp.post("/collaboration/rules/sandbox")
@member_page(Permission.RULES)
def collaboration_rule_sandbox() -> ResponseReturnValue:
    sentence = from_form(request.form)
    if edit(sentence, request.form):  # an add/remove row button: the same form back, one row more or less
        return _builder(sentence)
    spec = to_spec(sentence)
    db = read_db()
    try:
        seen, hits = rule_sandbox(db, actor(), spec, days=SANDBOX_DAYS)
    except DomainError as exc:
        return _builder(sentence, status=exc.http_status, error=exc.message)
    finally:
        db.rollback()  # the sandbox writes nothing
    return _builder(sentence, sandbox={"seen": seen, "hits": hits[:50], "count": len(hits)})


@bp.post("/collaboration/rules/save")
@member_page(Permission.RULES)
def collaboration_rule_save() -> ResponseReturnValue:
    sentence = from_form(request.form)
    command = SaveRule(to_spec(sentence), sentence.rule_id, sentence.reason)
    try:
        saved = call(save_rule, command, key=request_key())
    except DomainError as exc:  # back to the filled-in sentence with the operation's reason
        return _builder(sentence, status=exc.http_status, error=f"{exc.message}（{exc.code}）")
    word = "已创建" if saved.created else f"已保存为第 {saved.version} 版"
    return done(f"规则「{sentence.name}」{word}", url_for("console.collaboration"))


@bp.post("/collaboration/rules/<int:rule_id>/switch")
@member_page(Permission.RULES)
def collaboration_rule_switch(rule_id: int) -> ResponseReturnValue:
    enabled = request.form.get("enabled") == "1"
    # No key: switching is idempotent by state (a second "停用" of a stopped rule changes nothing).
    call(switch_rule, SwitchRule(rule_id, enabled, request.form.get("reason", "")[:500]))
    return done("规则已启用" if enabled else "规则已停用", url_for("console.collaboration"))
