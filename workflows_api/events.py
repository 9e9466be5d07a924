"""Event health and dead letters of the caller's organisation (managers, directors, admins)."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field

from miniprogram_api.skeleton import Ctx, StrictId, api_blueprint, endpoint
from models.actor import Permission
from models.operations.dead_letters import ReplayDeadLetters, replay_dead_letters
from models.queries.workflow_config import dead_letters
from workflows.health import event_health

api = api_blueprint("workflows", __name__, "/api/v1/workflows", "事件与健康")
OBJECT = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
ARRAY = {"description": "OK",
         "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}}


class ReplayIn(BaseModel):
    ids: Annotated[list[StrictId], Field(min_length=1, max_length=500)]


@endpoint(api.get, "/health", permission=Permission.RULES, response=OBJECT)
def health(ctx: Ctx) -> Any:
    """Event health for the caller's organisation: latency, dead letters, consistency checks."""
    return event_health(ctx.session, ctx.actor.org_id).to_dict()


@endpoint(api.get, "/dead-letters", permission=Permission.RULES, response=ARRAY)
def list_dead(ctx: Ctx) -> Any:
    """Handler runs that gave up, newest first."""
    return [{"id": r.id, "event_id": str(r.event_id), "handler": r.handler, "kind": r.kind,
             "attempts": r.attempts, "error": r.last_error} for r in dead_letters(ctx.session, ctx.actor)]


@endpoint(api.post, "/dead-letters/replay", permission=Permission.ROLES,
          response={"description": "OK", "content": {"application/json": {"schema": {
              "type": "object", "properties": {"replayed": {"type": "integer"}}}}}})
def replay(ctx: Ctx, body: ReplayIn) -> Any:
    """Put dead letters back in line (the operation 首页 calls; a run no longer dead is refused)."""
    return {"replayed": ctx.call(replay_dead_letters, ReplayDeadLetters(tuple(body.ids))).replayed}
