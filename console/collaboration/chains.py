"""协同 · 审批链: chains with their steps (role, hours to escalate); create, change, retire."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from typing import Any

from flask import request, url_for
from flask.typing import ResponseReturnValue

from console.blueprint import bp
from console.collaboration.common import decimal_field, page_after
from console.forms import new_request_id, request_key
from console.web import actor, call, can_anywhere, done, error_page, member_page, read_db, render
from models.actor import Permission
from models.errors import DomainError
from models.operations.approval_chains import SaveChain, SwitchChain, save_chain, switch_chain
from models.operations.approvals import APPROVER_ROLES, KIND_LABELS, MAX_CHAIN_STEPS, ChainSpec
from models.org import ROLE_LABELS
from models.queries.workflow_config import list_chains

#: Step rows the form offers (the operation allows up to MAX_CHAIN_STEPS).
FORM_STEPS = min(4, MAX_CHAIN_STEPS)
URGENT_CHOICES = {"": "不限", "1": "只管加急单", "0": "只管普通单"}
APPROVERS = {r: ROLE_LABELS.get(r, r) for r in sorted(APPROVER_ROLES, key=list(ROLE_LABELS).index)}


def _hours(raw: str) -> Any:
    """Hours as a number when they are one (the operation bounds them); junk stays text and is refused there."""
    try:
        value = Decimal(raw)
    except InvalidOperation:
        return raw
    if not value.is_finite() or not -30 <= value.adjusted() <= 30:  # never int(1e999999999): a billion digits
        return raw
    return int(value) if value == value.to_integral_value() else float(value)


def _form_values(form: Any) -> dict[str, Any]:
    steps = [{"role": form.get(f"role{n}", "").strip()[:32], "hours": form.get(f"hours{n}", "").strip()[:20]}
             for n in range(FORM_STEPS)]
    return {"chain_id": page_after(form.get("chain_id")) or None, "doc_kind": form.get("doc_kind", "")[:32],
            "name": form.get("name", "").strip()[:100], "min_value": form.get("min_value", "0").strip()[:30],
            "urgent": form.get("urgent", ""), "steps": steps}


def _page(values: dict[str, Any] | None = None, *, status: int = 200, error: str | None = None) -> ResponseReturnValue:
    who = actor()
    chains = list_chains(read_db(), who)
    if values is None:
        values = {"chain_id": None, "doc_kind": "transfer", "name": "", "min_value": "0", "urgent": "",
                  "steps": [{"role": "manager", "hours": "24"}] + [{"role": "", "hours": ""}] * (FORM_STEPS - 1)}
    return render("console/collaboration/chains.html", status=status, chains=chains, v=values, error=error,
                  kinds=KIND_LABELS, approvers=APPROVERS, urgent_choices=URGENT_CHOICES, roles=ROLE_LABELS,
                  may_change=can_anywhere(who, Permission.ROLES), request_id=new_request_id())


@bp.get("/collaboration/chains")
@member_page(Permission.RULES)
def collaboration_chains() -> ResponseReturnValue:
    edit = page_after(request.args.get("edit"))
    if not edit:
        return _page()
    chain = next((c for c in list_chains(read_db(), actor()) if c.id == edit), None)
    if chain is None:  # another org's chain is simply not in this org's list
        return error_page("NOT_FOUND", f"找不到审批链（编号 {edit}）", 404)
    steps = [{"role": str(s.get("role", "")), "hours": str(s.get("timeout_hours", ""))} for s in chain.steps]
    steps += [{"role": "", "hours": ""}] * (FORM_STEPS - len(steps))
    return _page({"chain_id": chain.id, "doc_kind": chain.doc_kind, "name": chain.name,
                  "min_value": f"{chain.min_value.normalize():f}", "steps": steps[:FORM_STEPS],
                  "urgent": "" if chain.urgent is None else ("1" if chain.urgent else "0")})


@bp.post("/collaboration/chains")
@member_page(Permission.RULES)
def collaboration_chain_save() -> ResponseReturnValue:
    values = _form_values(request.form)
    try:
        steps = tuple({"role": s["role"], "timeout_hours": _hours(s["hours"])} for s in values["steps"] if s["role"])
        urgent = {"": None, "1": True, "0": False}.get(values["urgent"])
        spec = ChainSpec(values["doc_kind"], values["name"], steps,
                         decimal_field(values["min_value"] or "0", "起用金额", "min_value"), urgent)
        call(save_chain, SaveChain(spec, values["chain_id"]), key=request_key())
    except DomainError as exc:
        return _page(values, status=exc.http_status, error=f"{exc.message}（{exc.code}）")
    return done(f"审批链「{values['name']}」已保存", url_for("console.collaboration_chains"))


@bp.post("/collaboration/chains/<int:chain_id>/switch")
@member_page(Permission.RULES)
def collaboration_chain_switch(chain_id: int) -> ResponseReturnValue:
    active = request.form.get("enabled") == "1"
    call(switch_chain, SwitchChain(chain_id, active))  # idempotent by state
    message = "审批链已启用" if active else "审批链已停用，新单据改走其他审批链或默认审批"
    return done(message, url_for("console.collaboration_chains"))
