"""Binding codes and bindings: a manager issues a code for a member; members and managers list and
revoke bindings. The rules (who may, which org, no reaching above one's own rights) live in
models.operations.identity; these routes parse, call and render."""

from __future__ import annotations

from flask import after_this_request
from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field
from werkzeug.wrappers import Response

from miniprogram_api.apiutil import READ_ERRORS, WRITE_ERRORS, Id, dump, out_model, reader, transact
from miniprogram_api.errors import ErrorBody
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


@api.post("/members/<int:member_id>/binding-codes", responses={"200": IssuedOut, **WRITE_ERRORS})
def issue(path: MemberPath, body: IssueIn) -> dict:
    """Issue a one-time binding code for a member (shown only in this answer, never again)."""
    after_this_request(_no_store)
    cmd = IssueBindingCode(member_id=path.member_id, minutes=body.minutes)
    return dump(transact(lambda session, actor: issue_binding_code(session, actor, cmd)))


@api.get("/members/<int:member_id>/bindings", responses={"200": BindingsOut, **READ_ERRORS})
def bindings(path: MemberPath) -> dict:
    """List a member's bound chat and mini-program accounts (their own, or as a manager)."""
    session, actor = reader()
    return {"bindings": [dump(v) for v in list_bindings(session, actor, path.member_id)]}


@api.delete("/members/<int:member_id>/bindings/<int:binding_id>", responses={"200": BindingOut, **WRITE_ERRORS})
def revoke(path: BindingPath) -> dict:
    """Unbind one account from a member: that chat or phone no longer acts as them."""
    cmd = RevokeBinding(member_id=path.member_id, binding_id=path.binding_id)
    return dump(transact(lambda session, actor: revoke_binding(session, actor, cmd)))
