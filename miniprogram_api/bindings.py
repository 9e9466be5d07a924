"""Binding codes and bindings: a manager issues a code for a member; members and managers list and
revoke bindings. The rules (who may, which org, no reaching above one's own rights) live in
models.operations.identity; these routes parse, call and render."""

from __future__ import annotations

from flask import after_this_request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field
from werkzeug.wrappers import Response

from miniprogram_api.apiutil import Id, dump, out_model
from miniprogram_api.errors import ErrorBody
from miniprogram_api.skeleton import Anyone, Ctx, endpoint
from models.operations.identity import (
    CODE_MINUTES_RANGE,
    BindingView,
    IssueBindingCode,
    IssuedCode,
    RevokeBinding,
    issue_binding_code,
    list_bindings,
    revoke_binding,
)

api = APIBlueprint("clerk_bindings", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="账号绑定")],
                   abp_security=[{"bearer": []}], abp_responses={"401": ErrorBody})

IssuedOut = out_model(IssuedCode)
BindingOut = out_model(BindingView)


class MemberPath(BaseModel):
    member_id: Id


class BindingPath(BaseModel):
    member_id: Id
    binding_id: Id


class IssueIn(BaseModel):
    minutes: int | None = Field(None, ge=CODE_MINUTES_RANGE[0], le=CODE_MINUTES_RANGE[1],
                                description="有效期（分钟），默认按单位设置，一般 30 分钟")


class BindingsOut(BaseModel):
    bindings: list[BindingOut]  # type: ignore[valid-type]


def _no_store(resp: Response) -> Response:
    resp.headers["Cache-Control"] = "no-store"
    return resp


#: Managers act for members of their org, a member for themself: ``_may_manage`` in the operations decides.
_OWN_OR_MANAGER = Anyone("本人或有发放绑定码权限的管理员；对象级权限在 identity 操作中检查")


@endpoint(api.post, "/members/<int:member_id>/binding-codes", permission=_OWN_OR_MANAGER, response=IssuedOut,
          write=False)
def issue(ctx: Ctx, path: MemberPath, body: IssueIn) -> dict:
    """Issue a one-time binding code for a member (shown only in this answer, never again)."""
    after_this_request(_no_store)
    cmd = IssueBindingCode(member_id=path.member_id, minutes=body.minutes)
    return dump(ctx.transact(lambda session, actor: issue_binding_code(session, actor, cmd)))


@endpoint(api.get, "/members/<int:member_id>/bindings", permission=_OWN_OR_MANAGER, response=BindingsOut)
def bindings(ctx: Ctx, path: MemberPath) -> dict:
    """List a member's bound chat and mini-program accounts (their own, or as a manager)."""
    return {"bindings": [dump(v) for v in list_bindings(ctx.session, ctx.actor, path.member_id)]}


@endpoint(api.delete, "/members/<int:member_id>/bindings/<int:binding_id>", permission=_OWN_OR_MANAGER,
          response=BindingOut, write=False)
def revoke(ctx: Ctx, path: BindingPath) -> dict:
    """Unbind one account from a member: that chat or phone no longer acts as them."""
    cmd = RevokeBinding(member_id=path.member_id, binding_id=path.binding_id)
    return dump(ctx.transact(lambda session, actor: revoke_binding(session, actor, cmd)))
