"""Login by a one-time code sent to the member's bound chat (the console's fallback, for API clients too).

Same operations as the console (models.operations.console_login): the answer to a send never tells
whether the phone is registered; a code lives five minutes, survives five wrong tries, one send a minute.
"""

from __future__ import annotations

from typing import Any

from flask import current_app
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from miniprogram_api.auth import issue_token
from miniprogram_api.auth_routes import LoginOut, OrgChoice
from miniprogram_api.errors import ErrorBody
from models.errors import DomainError, NotFound
from models.operations.console_login import IssueLoginCode, VerifyLoginCode, issue_login_code, verify_login_code
from models.uow import run

api = APIBlueprint("auth_code", __name__, url_prefix="/api/v1/auth/code", abp_tags=[Tag(name="登录")],
                   abp_responses={"401": ErrorBody, "404": ErrorBody, "422": ErrorBody, "429": ErrorBody})

SENT = "如果这个手机号已登记并绑定了企业微信、钉钉或微信，验证码已发到您的聊天窗口，5分钟内有效"


class CodeSendIn(BaseModel):
    phone: str = Field(min_length=1, max_length=20, description="登记的11位手机号")


class CodeSentOut(BaseModel):
    message: str = Field(description="无论手机号是否登记，回答都一样")


class CodeVerifyIn(BaseModel):
    phone: str = Field(min_length=1, max_length=20)
    code: str = Field(min_length=1, max_length=12, description="聊天里收到的6位验证码")
    org_id: int | None = Field(None, description="属于多个单位时选择其一")


class LoginCodeInvalid(DomainError):
    code = "LOGIN_CODE_INVALID"
    http_status = 401
    default_message = "验证码不对或已失效（5分钟内有效，最多试5次），请重新获取"


def _factory() -> Any:
    return current_app.extensions["liuzhuan"]["session_factory"]


@api.post("", responses={"200": CodeSentOut})
def send_code(body: CodeSendIn) -> dict[str, Any]:
    """Send a sign-in code to the chat bound to the member with this phone (if any)."""
    run(_factory(), issue_login_code, IssueLoginCode(body.phone))
    return CodeSentOut(message=SENT).model_dump()


@api.post("/verify", responses={"200": LoginOut})
def verify_code(body: CodeVerifyIn) -> dict[str, Any]:
    """Exchange the code for a token (or the list of organisations to choose from)."""
    check = run(_factory(), verify_login_code, VerifyLoginCode(body.phone, body.code))
    if not check.ok:
        raise LoginCodeInvalid()
    choices = [OrgChoice(org_id=m.org_id, org_name=m.org_name, member_id=m.member_id, member_name=m.member_name,
                         party_id=m.party_id, token=issue_token(m.member_id, m.org_id)) for m in check.members]
    picked = [c for c in choices if body.org_id is None or c.org_id == body.org_id]
    if body.org_id is not None and not picked:
        raise NotFound("您不是这个单位的成员", org_id=body.org_id)
    member = picked[0] if len(picked) == 1 else None
    return LoginOut(token=member.token if member else None, member=member, orgs=choices, bound_now=False).model_dump()
