"""The console's 协同 facts over HTTP, beside the page: webhook list and pause/resume, devices with their
last reading, event health over time and its thresholds, editing and retiring approval chains, and
when each rule last fired. Reading needs Permission.RULES; changing needs Permission.ROLES, checked
again inside each operation.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StrictBool

from miniprogram_api.skeleton import Ctx, Number, QueryId, endpoint
from models.actor import Permission
from models.operations.approval_chains import SaveChain, SwitchChain, save_chain, switch_chain
from models.operations.approvals import ChainSpec
from models.operations.health_thresholds import SetHealthThresholds, set_health_thresholds
from models.operations.webhooks import SwitchWebhook, switch_webhook
from models.queries.device_status import PAGE, device_status
from models.queries.event_health_series import health_series
from models.queries.workflow_config import list_webhooks, rules_last_fired
from workflows_api import config

# The config blueprint's own: GET /webhooks and GET /devices share their paths with its POSTs, and the
# spec holds one path item per path (a second blueprint would replace the first's).
api = config.api
OBJECT = {"description": "OK", "content": {"application/json": {"schema": {"type": "object"}}}}
ARRAY = {"description": "OK",
         "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}}
JsonObject = Annotated[dict[Annotated[str, Field(max_length=64)], Any], Field(max_length=64)]


class SubscriptionPath(BaseModel):
    sub_id: QueryId


class ChainPath(BaseModel):
    chain_id: QueryId


class DevicesQuery(BaseModel):
    after: Annotated[int, Field(ge=0, le=2**53)] = 0


class SeriesQuery(BaseModel):
    span: Literal["24h", "14d"] = "24h"


class ThresholdsIn(BaseModel):
    latency_p95_ms: Number
    #: Shares (0..1), not percent.
    retry_rate: Number
    check_pass_rate: Number


class ChainUpdateIn(BaseModel):
    doc_kind: Annotated[str, Field(max_length=32)] = ""
    name: Annotated[str, Field(max_length=128)] = ""
    steps: Annotated[list[JsonObject], Field(max_length=10)] = Field(default_factory=list)
    min_value: Annotated[Number, Field(ge=0)] = Decimal(0)
    urgent: StrictBool | None = None


@endpoint(api.get, "/webhooks", permission=Permission.RULES, response=ARRAY)
def webhooks(ctx: Ctx) -> Any:
    """The organisation's webhook subscriptions with delivery counts (never their secrets)."""
    return [w.to_dict() for w in list_webhooks(ctx.session, ctx.actor)]


@endpoint(api.post, "/webhooks/<int:sub_id>/disable", permission=Permission.ROLES, response=OBJECT)
def disable_webhook(ctx: Ctx, path: SubscriptionPath) -> Any:
    """Pause a subscription (audited)."""
    return ctx.call(switch_webhook, SwitchWebhook(path.sub_id, False))


@endpoint(api.post, "/webhooks/<int:sub_id>/enable", permission=Permission.ROLES, response=OBJECT)
def enable_webhook(ctx: Ctx, path: SubscriptionPath) -> Any:
    """Resume a subscription (its URL is checked again)."""
    return ctx.call(switch_webhook, SwitchWebhook(path.sub_id, True))


@endpoint(api.get, "/devices", permission=Permission.RULES, response=ARRAY)
def devices(ctx: Ctx, query: DevicesQuery) -> Any:
    """Devices by id (50 a page; pass the last id as ``after``), each with its last reading and whether it is stale."""
    return [d.to_dict() for d in device_status(ctx.session, ctx.actor, after_id=query.after, limit=PAGE)]


@endpoint(api.get, "/health/series", permission=Permission.RULES, response=OBJECT)
def series(ctx: Ctx, query: SeriesQuery) -> Any:
    """Event health per hour over 24 h or per day over 14 days, with the thresholds."""
    return health_series(ctx.session, ctx.actor, query.span).to_dict()


@endpoint(api.put, "/health/thresholds", permission=Permission.ROLES, response=OBJECT)
def thresholds(ctx: Ctx, body: ThresholdsIn) -> Any:
    """Set the event-health thresholds (p95 in ms, rates as shares 0..1; bounded by the operation)."""
    return ctx.call(set_health_thresholds, SetHealthThresholds(body.latency_p95_ms, body.retry_rate,
                                                               body.check_pass_rate))


@endpoint(api.put, "/chains/<int:chain_id>", permission=Permission.ROLES, response=OBJECT)
def put_chain(ctx: Ctx, path: ChainPath, body: ChainUpdateIn) -> Any:
    """Change an approval chain (running approvals keep the steps they started with)."""
    spec = ChainSpec(body.doc_kind, body.name, tuple(body.steps), body.min_value, body.urgent)
    return ctx.call(save_chain, SaveChain(spec, path.chain_id))


@endpoint(api.post, "/chains/<int:chain_id>/disable", permission=Permission.ROLES, response=OBJECT)
def disable_chain(ctx: Ctx, path: ChainPath) -> Any:
    """Retire an approval chain."""
    return ctx.call(switch_chain, SwitchChain(path.chain_id, False))


@endpoint(api.post, "/chains/<int:chain_id>/enable", permission=Permission.ROLES, response=OBJECT)
def enable_chain(ctx: Ctx, path: ChainPath) -> Any:
    """Bring a retired approval chain back."""
    return ctx.call(switch_chain, SwitchChain(path.chain_id, True))


@endpoint(api.get, "/rules/fired", permission=Permission.RULES, response=OBJECT)
def rules_fired(ctx: Ctx) -> Any:
    """When each rule last fired: {rule id: time}."""
    return {str(k): v.isoformat() for k, v in rules_last_fired(ctx.session, ctx.actor).items()}
