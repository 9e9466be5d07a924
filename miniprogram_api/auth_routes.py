"""Login: WeChat and DingTalk mini-program codes (and a dev-only phone login) → our own token."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Flask, current_app
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from app.factory import settings_of
from miniprogram_api.auth import issue_token
from miniprogram_api.errors import ErrorBody
from models.errors import NotFound
from models.operations.identity import ClaimBindingAttempt, claim_binding_attempt
from models.operations.platform_login import LoginResult, PlatformLogin, login_identity, members_by_phone
from models.org import IdentityProvider
from models.uow import run
from platforms.dingtalk_auth import DingTalkMiniProgramAuth, DingTalkSdkAuth
from platforms.errors import PlatformNotConfigured
from platforms.wechat_miniprogram import WeChatMiniProgram, WeChatPyMiniProgram

api = APIBlueprint("auth", __name__, url_prefix="/api/v1/auth", abp_tags=[Tag(name="登录")],
                   abp_responses={"401": ErrorBody, "403": ErrorBody, "422": ErrorBody, "429": ErrorBody,
                                  "502": ErrorBody})


class WeChatLoginIn(BaseModel):
    code: str = Field(min_length=1, max_length=128, description="wx.login() 返回的 code")
    binding_code: str | None = Field(None, max_length=32, description="首次登录：管理员发的12位绑定码（可带空格）")
    phone_code: str | None = Field(None, max_length=128, description="首次登录：getPhoneNumber 按钮返回的 code")
    org_id: int | None = Field(None, description="属于多个单位时选择其一")


class DingTalkLoginIn(BaseModel):
    auth_code: str = Field(min_length=1, max_length=128, description="dd.getAuthCode() 返回的免登码")
    binding_code: str | None = Field(None, max_length=32, description="首次登录：管理员发的12位绑定码（可带空格）")
    use_phone: bool = Field(False, description="首次登录：用钉钉通讯录里的手机号匹配成员")
    org_id: int | None = None


class DevLoginIn(BaseModel):
    phone: str = Field(min_length=5, max_length=20, description="已登记成员的手机号（仅开发模式）")
    org_id: int | None = None


class OrgChoice(BaseModel):
    org_id: int
    org_name: str
    member_id: int
    member_name: str
    party_id: int | None
    token: str = Field(description="该单位下的登录凭证（Bearer）")


class LoginOut(BaseModel):
    token: str | None = Field(description="只有一个单位（或已选 org_id）时直接给出；否则从 orgs 里选")
    member: OrgChoice | None
    orgs: list[OrgChoice]
    bound_now: bool = Field(description="本次登录完成了首次绑定")


def _answer(result: LoginResult, org_id: int | None) -> dict[str, Any]:
    choices = [OrgChoice(org_id=m.org_id, org_name=m.org_name, member_id=m.member_id, member_name=m.member_name,
                         party_id=m.party_id, token=issue_token(m.member_id, m.org_id)) for m in result.members]
    picked = [c for c in choices if org_id is None or c.org_id == org_id]
    if org_id is not None and not picked:
        raise NotFound("您不是这个单位的成员", org_id=org_id)
    member = picked[0] if len(picked) == 1 else None
    return LoginOut(token=member.token if member else None, member=member, orgs=choices,
                    bound_now=result.bound_now).model_dump()


def _factory() -> Any:
    return current_app.extensions["liuzhuan"]["session_factory"]


def _login(cmd: PlatformLogin, org_id: int | None) -> LoginResult:
    """Log in; a binding code first claims a throttled try in its own transaction, so a wrong code
    stays counted although the login itself rolls back."""
    if cmd.binding_code:
        attempt = run(_factory(), claim_binding_attempt, ClaimBindingAttempt(cmd.provider, cmd.external_id, org_id))
        cmd = replace(cmd, binding_attempt_id=attempt)
    return run(_factory(), login_identity, cmd)


def wechat_client(app: Flask) -> WeChatMiniProgram:
    """The app's WeChat mini-program client (created once; tests may replace it)."""
    ext = app.extensions.setdefault("liuzhuan_platforms", {})
    if "wechat" not in ext:
        s = settings_of(app)
        if not (s.wechat_app_id and s.wechat_app_secret):
            raise PlatformNotConfigured()
        ext["wechat"] = WeChatPyMiniProgram(s.wechat_app_id, s.wechat_app_secret, api_base=s.wechat_api_base)
    return ext["wechat"]


def dingtalk_client(app: Flask) -> DingTalkMiniProgramAuth:
    """The app's DingTalk free-login client."""
    ext = app.extensions.setdefault("liuzhuan_platforms", {})
    if "dingtalk" not in ext:
        s = settings_of(app)
        if not (s.dingtalk_app_key and s.dingtalk_app_secret):
            raise PlatformNotConfigured()
        ext["dingtalk"] = DingTalkSdkAuth(s.dingtalk_app_key, s.dingtalk_app_secret, api_base=s.dingtalk_api_base)
    return ext["dingtalk"]


@api.post("/wechat", responses={"200": LoginOut})
def login_wechat(body: WeChatLoginIn) -> dict[str, Any]:
    """Log in with a wx.login code; the session_key stays on the server."""
    client = wechat_client(current_app)
    wx = client.code_to_session(body.code)
    phone = client.phone_number(body.phone_code) if body.phone_code and not body.binding_code else None
    result = _login(PlatformLogin(
        IdentityProvider.WECHAT_OPENID, wx.openid, wx.unionid, wx.session_key, body.binding_code, phone), body.org_id)
    return _answer(result, body.org_id)


@api.post("/dingtalk", responses={"200": LoginOut})
def login_dingtalk(body: DingTalkLoginIn) -> dict[str, Any]:
    """Log in with a DingTalk mini-program auth code (免登码)."""
    client = dingtalk_client(current_app)
    user = client.user_from_auth_code(body.auth_code)
    phone = client.mobile_of(user.userid) if body.use_phone and not body.binding_code else None
    result = _login(PlatformLogin(
        IdentityProvider.DINGTALK_USERID, user.userid, user.unionid, None, body.binding_code, phone), body.org_id)
    return _answer(result, body.org_id)


@api.post("/dev", responses={"200": LoginOut, "404": ErrorBody})
def login_dev(body: DevLoginIn) -> dict[str, Any]:
    """Development only (no WeChat app id configured, not production): log in by a member's phone."""
    s = settings_of(current_app)
    if s.production or s.wechat_app_id:
        raise PlatformNotConfigured("开发登录只在开发模式下可用")
    with _factory()() as session:
        return _answer(members_by_phone(session, body.phone), body.org_id)
