"""设置 › 成员与角色, binding codes and the audit log.

A binding code is shown once, on the answer to the POST that issued it (never stored in plain
text, never on a page that can be reloaded or cached), with a QR code of it to hold up to a phone.
"""

from __future__ import annotations

import base64
import io
from typing import Any

import qrcode
from flask import request, url_for
from flask.typing import ResponseReturnValue

from console import forms
from console.blueprint import bp
from console.settings import _context, raise_not_found
from console.web import actor, call, done, member_page, read_db, render
from models.actor import Permission
from models.errors import ValidationError
from models.operations.identity import IssueBindingCode, issue_binding_code
from models.operations.masterdata import AssignRole, assign_role
from models.operations.settings_admin import RegisterMember, UpdateMember, register_member, update_member
from models.org import ROLE_LABELS, Role
from models.queries import settings_lists as lists
from models.queries.audit_log import ACTION_LABELS, ENTITY_LABELS, audit_entries


def _site(name: str) -> int | None:
    return forms.integer(name, "地点")


def _role(name: str = "role") -> Role:
    raw = request.form.get(name, "")
    if raw not in ROLE_LABELS:
        raise ValidationError("请选择角色", field=name)
    return Role(raw)


@bp.get("/settings/members")
@member_page()
def settings_members() -> ResponseReturnValue:
    who, db = actor(), read_db()
    q = (request.args.get("q") or "")[:64]
    page = lists.members(db, who, q=q, after_id=forms.integer("after", "页码", source="args"))
    return render("console/settings/members.html", **_context(
        page=page, q=q, roles=ROLE_LABELS, sites=lists.sites(db, who)))


@bp.get("/settings/members/<int:member_id>")
@member_page()
def settings_member(member_id: int) -> ResponseReturnValue:
    who, db = actor(), read_db()
    page = lists.members(db, who, member_id=member_id)
    if not page.rows:
        raise_not_found("成员", member_id)
    return render("console/settings/member.html", **_context(
        member=page.rows[0], roles=ROLE_LABELS, sites=lists.sites(db, who)))


@bp.post("/settings/members")
@member_page()
def settings_member_create() -> ResponseReturnValue:
    role = _role()
    party_id = forms.integer("party_id", "往来单位")
    member_id = call(register_member, RegisterMember(
        forms.text("name", "姓名", max_len=64, required=True), forms.text("phone", "手机号", max_len=32) or None,
        party_id, ((role, _site("site_id")),)), key=forms.request_key())
    return done("成员已添加，可以发放绑定码了", url_for("console.settings_member", member_id=member_id))


@bp.post("/settings/members/<int:member_id>")
@member_page(Permission.ROLES)
def settings_member_update(member_id: int) -> ResponseReturnValue:
    call(update_member, UpdateMember(member_id, forms.text("name", "姓名", max_len=64, required=True),
                                     forms.text("phone", "手机号", max_len=32) or None, forms.checked("active"),
                                     forms.text("reason", "原因", max_len=200)), key=forms.request_key())
    return done("成员已保存", url_for("console.settings_member", member_id=member_id))


@bp.post("/settings/members/<int:member_id>/roles")
@member_page(Permission.ROLES)
def settings_member_role(member_id: int) -> ResponseReturnValue:
    revoke = request.form.get("revoke") == "1"
    call(assign_role, AssignRole(member_id, _role(), _site("site_id"), revoke), key=forms.request_key())
    return done("已收回角色" if revoke else "已授予角色", url_for("console.settings_member", member_id=member_id))


def qr_data_uri(text: str) -> str:
    """A PNG QR code of ``text`` as a data: URI (the CSP allows data: images; nothing is stored)."""
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, box_size=6, border=2, mask_pattern=2)
    code.add_data(text)
    buffer = io.BytesIO()
    code.make_image().save(buffer)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


@bp.post("/settings/members/<int:member_id>/binding-code")
@member_page(Permission.MEMBERS)
def settings_binding_code(member_id: int) -> ResponseReturnValue:
    issued = call(issue_binding_code, IssueBindingCode(member_id, forms.integer("minutes", "有效期")))
    page = lists.members(read_db(), actor(), member_id=member_id)
    response = render("console/settings/binding_code.html", **_context(
        issued=issued, member=page.rows[0] if page.rows else None,
        qr=qr_data_uri(issued.code.replace(" ", ""))))
    response.headers["Cache-Control"] = "no-store"  # the code is shown once: no copy in any cache
    return response


# --- audit log -----------------------------------------------------------------------------------------

@bp.get("/settings/audit")
@member_page()
def settings_audit() -> ResponseReturnValue:
    who, db = actor(), read_db()
    filters: dict[str, Any] = {
        "actor_id": forms.integer("actor_id", "操作人", source="args"),
        "action": (request.args.get("action") or "")[:48],
        "entity_id": (request.args.get("entity_id") or "").strip()[:64],
        "since": forms.query_date("since", "开始日期"),
        "until": forms.query_date("until", "结束日期"),
    }
    page = audit_entries(db, who, before_id=forms.integer("before", "页码", source="args"), **filters)
    staff = lists.members(db, who, limit=200).rows if who.can(Permission.MEMBERS) or who.can(Permission.ROLES) \
        else []
    kinds = sorted({a.split(".")[0] + "." for a in ACTION_LABELS})
    return render("console/settings/audit.html", **_context(
        page=page, filters=filters, staff=staff, actions=ACTION_LABELS, kinds=kinds, entities=ENTITY_LABELS))
