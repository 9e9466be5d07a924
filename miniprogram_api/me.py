"""GET /api/v1/me: who the token belongs to, with roles per site; GET /api/v1/node/status: at an edge
node, how long since it last synced with headquarters (the console banner's facts)."""

from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel

from miniprogram_api.errors import ErrorBody
from miniprogram_api.skeleton import Anyone, Ctx, endpoint
from models.lookup import get_owned
from models.org import Member, Org
from models.queries.nodes import node_sync_status

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


class NodeStatusOut(BaseModel):
    #: False at headquarters (never offline): the other fields are then null.
    edge: bool
    node: str | None = None
    last_synced_at: str | None = None
    lag_seconds: int | None = None
    level: str | None = None
    warn_after_hours: int | None = None
    text: str | None = None
    warning: str | None = None


@endpoint(api.get, "/node/status", permission=Anyone("每个登录成员都可查看本节点与总部的同步状态"),
          response=NodeStatusOut)
def node_status(ctx: Ctx) -> dict:
    """Return this node's last sync with headquarters (edge false at headquarters)."""
    status = node_sync_status(ctx.session, ctx.actor.org_id)
    if status is None:
        return NodeStatusOut(edge=False).model_dump()
    return NodeStatusOut(edge=True, **status.to_dict()).model_dump()
