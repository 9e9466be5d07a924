"""GET /api/v1/me: who the token belongs to, with roles per site."""

from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel

from miniprogram_api.errors import ErrorBody
from miniprogram_api.skeleton import Anyone, Ctx, endpoint
from models.lookup import get_owned
from models.org import Member, Org

api = APIBlueprint("me", __name__, url_prefix="/api/v1", abp_tags=[Tag(name="账号")],
                   abp_security=[{"bearer": []}], abp_responses={"401": ErrorBody})


class RoleOut(BaseModel):
    role: str
    site_id: int | None


class MeOut(BaseModel):
    member_id: int
    name: str
    org_id: int
    org_name: str
    party_id: int | None
    roles: list[RoleOut]


@endpoint(api.get, "/me", permission=Anyone("每个登录成员都可查看自己的账号"), response=MeOut)
def me(ctx: Ctx) -> dict:
    """Return the signed-in member."""
    actor = ctx.actor
    member = get_owned(ctx.session, Member, actor.member_id, actor.org_id)
    org = ctx.session.get_one(Org, actor.org_id)
    return MeOut(member_id=member.id, name=member.name, org_id=org.id, org_name=org.name,
                 party_id=member.party_id,
                 roles=[RoleOut(role=r.value, site_id=s) for r, s in actor.roles]).model_dump()
