"""Sign-in and sign-out. Development: a registered member's phone (the same rule as the API's dev login)."""

from __future__ import annotations

from flask import current_app, redirect, request, url_for
from flask.typing import ResponseReturnValue

from console.blueprint import bp
from console.web import read_db, render, safe_next, sign_in, sign_out, signed_in_actor
from models.errors import DomainError
from models.operations.platform_login import LoginMember, members_by_phone


def dev_login_enabled() -> bool:
    """The phone-only login exists only in development (never in production or with a WeChat app id)."""
    settings = current_app.extensions["liuzhuan"]["settings"]
    return not settings.production and not settings.wechat_app_id


@bp.get("/login")
def login() -> ResponseReturnValue:
    """登录页：扫码、验证码或（开发环境）手机号登录"""
    if signed_in_actor() is not None:
        return redirect(safe_next(request.args.get("next")))
    return render("console/login.html", next=request.args.get("next", ""), dev=dev_login_enabled(), choices=[])


@bp.post("/login/dev")
def login_dev() -> ResponseReturnValue:
    """开发登录：已登记成员的手机号（仅开发环境）"""
    nxt = request.form.get("next", "")
    if not dev_login_enabled():
        return render("console/login.html", status=404, next=nxt, dev=False, choices=[],
                      error="开发登录只在开发模式下可用")
    phone = request.form.get("phone", "").strip()
    try:
        members: tuple[LoginMember, ...] = members_by_phone(read_db(), phone).members
    except DomainError as exc:
        return render("console/login.html", status=exc.http_status, next=nxt, dev=True, choices=[],
                      error=exc.message, phone=phone)
    org = request.form.get("org_id", type=int)
    picked = [m for m in members if org is None or m.org_id == org]
    if len(picked) != 1:
        return render("console/login.html", next=nxt, dev=True, choices=members, phone=phone)
    sign_in(picked[0].member_id, picked[0].org_id)
    return redirect(safe_next(nxt), code=303)


@bp.post("/logout")
def logout() -> ResponseReturnValue:
    """退出登录"""
    sign_out()
    return redirect(url_for("console.login"), code=303)
