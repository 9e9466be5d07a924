"""Sign-in by DingTalk or WeChat QR code (the platforms' web login) and by a code sent to the member's chat.

QR: /console/login/<platform> makes a random state, keeps it in this browser's session and sends the
browser to the platform's QR page; the platform sends it back to /console/login/<platform>/callback with
a code and the state. The state is single-use (popped at the first callback), lives ten minutes and
must be this browser's: a replayed, foreign or stale state is refused before the code is ever used.
The platform identity is then looked up among the members' bindings (the same ones the mini-program and
the bots use); the console never binds an identity itself.

Code: see models.operations.console_login (the answer never tells whether a phone is registered).
Several organisations behind one identity or phone: the member picks one (the choice is kept in the
session for ten minutes and only among the verified members).
"""

from __future__ import annotations

import hmac
import secrets
import time
from typing import Any

from flask import current_app, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from werkzeug.wrappers import Response

from console.blueprint import bp
from console.login import dev_login_enabled
from console.web import read_db, render, safe_next, sign_in
from models.errors import DomainError
from models.operations.console_login import IssueLoginCode, VerifyLoginCode, issue_login_code, verify_login_code
from models.operations.platform_login import LoginMember
from models.org import IdentityProvider
from models.queries.console_login import members_of_identities
from models.uow import run
from platforms.dingtalk_web_login import DingTalkWebLogin
from platforms.errors import PlatformNotConfigured
from platforms.wechat_web_login import WeChatWebLogin

#: A QR sign-in must come back within this long (and an organisation be picked within it).
STATE_LIFETIME_S = 600
PLATFORMS = {"dingtalk": "钉钉", "wechat": "微信"}
_PENDING, _PICK = "console_oauth", "console_pick"


def _settings() -> Any:
    return current_app.extensions["liuzhuan"]["settings"]


@bp.app_template_global()
def qr_platforms() -> dict[str, bool]:
    """Which QR sign-ins this server has credentials for."""
    s = _settings()
    return {"dingtalk": bool(s.dingtalk.app_key and s.dingtalk.app_secret),
            "wechat": bool(s.wechat.web_app_id and s.wechat.web_app_secret)}


def _client(platform: str) -> DingTalkWebLogin | WeChatWebLogin:
    """The platform's web-login client (built once per app; tests may replace it)."""
    if not qr_platforms().get(platform):
        raise PlatformNotConfigured()
    clients = current_app.extensions.setdefault("liuzhuan_console_login", {})
    if platform not in clients:
        s = _settings()
        clients[platform] = (
            DingTalkWebLogin(s.dingtalk.app_key, s.dingtalk.app_secret, login_base=s.dingtalk.login_base,
                             api_base=s.dingtalk.api_base) if platform == "dingtalk"
            else WeChatWebLogin(s.wechat.web_app_id, s.wechat.web_app_secret, open_base=s.wechat.open_base,
                                api_base=s.wechat.api_base))
    client: DingTalkWebLogin | WeChatWebLogin = clients[platform]
    return client


def login_page(status: int = 200, **context: Any) -> Response:
    """The sign-in page with every way this server offers."""
    context.setdefault("next", request.values.get("next", ""))
    context.setdefault("choices", [])
    return render("console/login.html", status=status, dev=dev_login_enabled(), **context)


def _refuse(code: str, message: str, status: int = 400, **context: Any) -> Response:
    return login_page(status, error=f"{message}（{code}）", **context)


# --- QR sign-in ----------------------------------------------------------------------------------


@bp.get("/login/<any(dingtalk, wechat):platform>")
def login_qr(platform: str) -> ResponseReturnValue:
    """Start a QR sign-in: remember a fresh state in this browser's session, go to the platform's QR page."""
    client = _client(platform)
    state = secrets.token_urlsafe(24)
    session[_PENDING] = {"platform": platform, "state": state, "at": int(time.time()),
                         "next": safe_next(request.args.get("next"))}
    callback = _settings().public_base_url + url_for("console.login_qr_callback", platform=platform)
    return redirect(client.authorize_url(callback, state), code=303)


@bp.get("/login/<any(dingtalk, wechat):platform>/callback")
def login_qr_callback(platform: str) -> ResponseReturnValue:
    """The platform sends the browser back here after the scan (a code and our state)."""
    pending = session.pop(_PENDING, None)  # single use: whatever happens next, this state is spent
    state = request.args.get("state", "")
    if (not isinstance(pending, dict) or pending.get("platform") != platform
            or not hmac.compare_digest(str(pending.get("state", "")), state)):
        return _refuse("LOGIN_STATE_INVALID", "登录请求已失效或不是从本页面发起的，请在登录页重新扫码")
    if time.time() - int(pending.get("at", 0)) > STATE_LIFETIME_S:
        return _refuse("LOGIN_STATE_EXPIRED", "二维码已超过10分钟，请重新扫码")
    code = request.args.get("authCode" if platform == "dingtalk" else "code", "")
    if not code or len(code) > 256:
        return _refuse("LOGIN_CANCELLED", f"没有收到{PLATFORMS[platform]}的授权，请重新扫码并确认登录")
    try:
        identities = _identities(platform, code)
        members = members_of_identities(read_db(), identities) if identities else ()
    except DomainError as exc:
        return _refuse(exc.code, exc.message, exc.http_status)
    if not members:
        return _refuse("NOT_BOUND", f"您的{PLATFORMS[platform]}账号还没有绑定流转的成员。请向管理员索取绑定码，"
                       "在小程序或聊天机器人里完成绑定后再来登录", 403)
    return _finish(members, str(pending.get("next") or ""), f"{platform}_qr")


def _identities(platform: str, code: str) -> list[tuple[IdentityProvider, str]]:
    """The bindings the platform's answer may match (WeChat: unionid first, then the website's openid)."""
    client = _client(platform)
    if isinstance(client, DingTalkWebLogin):
        user = client.user_from_auth_code(code)
        return [(IdentityProvider.DINGTALK_USERID, user.userid)] if user.userid else []
    wx = client.user_from_code(code)
    found = [(IdentityProvider.WECHAT_OPENID, wx.openid)]
    return [(IdentityProvider.WECHAT_UNIONID, wx.unionid), *found] if wx.unionid else found


# --- one member among several organisations ------------------------------------------------------


def _finish(members: tuple[LoginMember, ...], nxt: str, method: str) -> Response:
    """Sign in the only member, or ask which organisation (only among these verified members)."""
    if len(members) == 1:
        sign_in(members[0].member_id, members[0].org_id, method)
        return redirect(safe_next(nxt), code=303)
    session[_PICK] = {"at": int(time.time()), "next": safe_next(nxt), "method": method,
                      "members": [[m.member_id, m.org_id, m.org_name, m.member_name] for m in members]}
    return login_page(pick=members, next=nxt)


@bp.post("/login/pick")
def login_pick() -> ResponseReturnValue:
    """Sign in as the member of the chosen organisation (one of the verified ones)."""
    pick = session.get(_PICK)
    org = request.form.get("org_id", "")
    if not isinstance(pick, dict) or time.time() - int(pick.get("at", 0)) > STATE_LIFETIME_S:
        session.pop(_PICK, None)
        return _refuse("LOGIN_CHOICE_EXPIRED", "选择单位已超时，请重新登录")
    chosen = [m for m in pick.get("members", []) if org.isdigit() and m[1] == int(org)]
    if len(chosen) != 1:
        return _refuse("LOGIN_CHOICE_INVALID", "请从列表中选择一个单位",
                       pick=[LoginMember(m[0], m[3], m[1], m[2], None) for m in pick.get("members", [])])
    # Clears the session: the choice is spent with it.
    sign_in(int(chosen[0][0]), int(chosen[0][1]), str(pick.get("method") or "qr"))
    return redirect(safe_next(str(pick.get("next") or "")), code=303)


# --- a code sent to the member's chat ------------------------------------------------------------

SENT = "如果这个手机号已登记并绑定了企业微信、钉钉或微信，验证码已发到您的聊天窗口，5分钟内有效。"


def _factory() -> Any:
    return current_app.extensions["liuzhuan"]["session_factory"]


@bp.post("/login/code/send")
def login_code_send() -> ResponseReturnValue:
    """Send a sign-in code to the chat bound to the phone's member (the answer is the same for any phone)."""
    phone = request.form.get("phone", "").strip()[:32]
    read_db().rollback()
    try:
        run(_factory(), issue_login_code, IssueLoginCode(phone))
    except DomainError as exc:
        # Refusals say the same for every phone (a malformed number, or one request a minute).
        return login_page(exc.http_status, error=f"{exc.message}（{exc.code}）", code_phone=phone,
                          code_sent=exc.code == "LOGIN_CODE_TOO_SOON")
    return login_page(code_phone=phone, code_sent=True, notice=SENT)


@bp.post("/login/code/verify")
def login_code_verify() -> ResponseReturnValue:
    """Sign in with the code from the chat."""
    phone = request.form.get("phone", "").strip()[:32]
    code = request.form.get("code", "").strip()[:16]
    read_db().rollback()
    check = run(_factory(), verify_login_code, VerifyLoginCode(phone, code))
    if not check.ok:
        return _refuse("LOGIN_CODE_INVALID", "验证码不对或已失效（5分钟内有效，最多试5次），请重新获取", 401,
                       code_phone=phone, code_sent=True)
    return _finish(check.members, request.form.get("next", ""), "chat_code")
