"""GET /api/v1/me: who the token belongs to, with roles per site."""

from __future__ import annotations

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel

from app.web import db
from miniprogram_api.auth import current_actor
from miniprogram_api.errors import ErrorBody
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


@api.get("/me", responses={"200": MeOut})
def me() -> dict:
    """Return the signed-in member."""
    session = db()
    actor = current_actor(session)
    member = get_owned(session, Member, actor.member_id, actor.org_id)
    org = session.get_one(Org, actor.org_id)
    return MeOut(member_id=member.id, name=member.name, org_id=org.id, org_name=org.name,
                 party_id=member.party_id,
                 roles=[RoleOut(role=r.value, site_id=s) for r, s in actor.roles]).model_dump()
