"""Rules, approval chains, webhooks and devices over HTTP: typed bodies, validated by the operations, audited.

Every route goes through miniprogram_api.skeleton. Reading the configuration needs Permission.RULES
(managers, directors, admins: it shows event payloads, members and endpoints of the whole
organisation); changing it needs Permission.ROLES (directors, admins), checked again, per object,
inside the operations.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, Field, StrictBool, StrictInt

from miniprogram_api.skeleton import Ctx, Number, QueryId, Rendered, StrictId, api_blueprint, endpoint
from models.actor import Permission
from models.approvals import ApprovalChain
from models.operations.approvals import ChainSpec, create_chain
from models.operations.devices import RegisterDevice, register_device
from models.operations.rules import TRIGGERS, RuleSpec, create_rule, set_rule_enabled, update_rule
from models.operations.webhooks import SubscribeWebhook, subscribe_webhook
from models.queries.workflow_config import list_chains as chains_query
from models.queries.workflow_config import list_rules as rules_query
from models.queries.workflow_config import rule_sandbox, webhook_deliveries
from models.queries.workflow_config import rule_versions as versions_query
from models.rules import Rule

api = api_blueprint("workflows_config", __name__, "/api/v1/workflows", "规则与集成")


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"description": "OK", "content": {"application/json": {"schema": schema}}}


ARRAY = _json({"type": "array", "items": {"type": "object"}})
OBJECT = _json({"type": "object"})
Text = Annotated[str, Field(max_length=128)]
#: A JSON object given to an operation that validates its content (size and depth bounded there).
JsonObject = Annotated[dict[Annotated[str, Field(max_length=64)], Any], Field(max_length=64)]


class RuleIn(BaseModel):
    code: Annotated[str, Field(max_length=48)] = ""
    name: Text = ""
    trigger: Annotated[str, Field(max_length=64)] = ""
    condition: JsonObject = Field(default_factory=dict)
    actions: Annotated[list[JsonObject], Field(max_length=10)] = Field(default_factory=list)
    enabled: StrictBool = True

    def spec(self, **override: str) -> RuleSpec:
        values = {"code": self.code, "name": self.name, **override}
        return RuleSpec(code=values["code"], name=values["name"], trigger=self.trigger, condition=self.condition,
                        actions=tuple(self.actions), enabled=self.enabled)


class RuleUpdateIn(RuleIn):
    reason: Annotated[str, Field(max_length=500)] = ""


class SandboxIn(RuleIn):
    days: Annotated[StrictInt, Field(ge=1, le=90)] = 7


class RulePath(BaseModel):
    rule_id: QueryId


class ReasonIn(BaseModel):
    reason: Annotated[str, Field(max_length=500)] = ""


class ChainIn(BaseModel):
    doc_kind: Annotated[str, Field(max_length=32)] = ""
    name: Text = ""
    steps: Annotated[list[JsonObject], Field(max_length=5)] = Field(default_factory=list)
    min_value: Annotated[Number, Field(ge=0)] = Decimal(0)
    urgent: StrictBool | None = None


class WebhookIn(BaseModel):
    url: Annotated[str, Field(max_length=2000)] = ""
    kinds: Annotated[list[Annotated[str, Field(max_length=64)]], Field(max_length=50)] = Field(default_factory=list)


class SubscriptionPath(BaseModel):
    sub_id: QueryId


class DeviceIn(BaseModel):
    code: Annotated[str, Field(max_length=64)] = ""
    kind: Annotated[str, Field(max_length=32)] = ""
    site_id: StrictId
    item_id: StrictId | None = None
    config: JsonObject = Field(default_factory=dict)


def rule_json(rule: Rule) -> dict[str, Any]:
    """Render a rule."""
    return {"id": rule.id, "code": rule.code, "name": rule.name, "trigger": rule.trigger, "condition": rule.condition,
            "actions": rule.actions, "enabled": rule.enabled, "version": rule.version}


def chain_json(c: ApprovalChain) -> dict[str, Any]:
    """Render an approval chain."""
    return {"id": c.id, "doc_kind": c.doc_kind, "name": c.name, "min_value": str(c.min_value),
            "urgent": c.urgent, "steps": c.steps, "active": c.active}


@endpoint(api.get, "/rules", permission=Permission.RULES, response=OBJECT)
def list_rules(ctx: Ctx) -> Any:
    """The organisation's rules and the triggers a rule may name."""
    return {"rules": [rule_json(r) for r in rules_query(ctx.session, ctx.actor)], "triggers": TRIGGERS}


@endpoint(api.post, "/rules", permission=Permission.ROLES, response=OBJECT, status=201, write=False)
def post_rule(ctx: Ctx, body: RuleIn) -> Any:
    """Create a rule (validated and audited by the operation)."""
    spec = body.spec()
    return ctx.transact(lambda s, a: rule_json(create_rule(s, a, spec)))


@endpoint(api.put, "/rules/<int:rule_id>", permission=Permission.ROLES, response=OBJECT, write=False)
def put_rule(ctx: Ctx, path: RulePath, body: RuleUpdateIn) -> Any:
    """Change a rule: a new version, audited with the reason."""
    spec = body.spec()
    return ctx.transact(lambda s, a: rule_json(update_rule(s, a, path.rule_id, spec, body.reason)))


@endpoint(api.post, "/rules/<int:rule_id>/enable", permission=Permission.ROLES, response=OBJECT, write=False)
def enable_rule(ctx: Ctx, path: RulePath, body: ReasonIn) -> Any:
    """Switch a rule on."""
    return ctx.transact(lambda s, a: rule_json(set_rule_enabled(s, a, path.rule_id, True, body.reason)))


@endpoint(api.post, "/rules/<int:rule_id>/disable", permission=Permission.ROLES, response=OBJECT, write=False)
def disable_rule(ctx: Ctx, path: RulePath, body: ReasonIn) -> Any:
    """Switch a rule off."""
    return ctx.transact(lambda s, a: rule_json(set_rule_enabled(s, a, path.rule_id, False, body.reason)))


@endpoint(api.get, "/rules/<int:rule_id>/versions", permission=Permission.RULES, response=ARRAY)
def rule_versions(ctx: Ctx, path: RulePath) -> Any:
    """Every version of a rule, with who changed it and when."""
    return [{"version": v.version, "body": v.body, "changed_by": v.changed_by, "at": v.created_at}
            for v in versions_query(ctx.session, ctx.actor, path.rule_id)]


@endpoint(api.post, "/rules/sandbox", permission=Permission.RULES, response=OBJECT, write=False)
def sandbox_rule(ctx: Ctx, body: SandboxIn) -> Any:
    """Replay a draft over the last ``days`` (≤ 90) of events; writes nothing."""
    spec = body.spec(code=body.code or "draft", name=body.name or "草稿")
    try:
        seen, hits = rule_sandbox(ctx.session, ctx.actor, spec, days=body.days)
    finally:
        ctx.session.rollback()  # the sandbox writes nothing
    return {"events_seen": seen, "would_fire": len(hits),
            "hits": [{"event_id": h.event_id, "at": h.at, "actions": h.actions} for h in hits]}


@endpoint(api.get, "/chains", permission=Permission.RULES, response=ARRAY)
def list_chains(ctx: Ctx) -> Any:
    """The organisation's approval chains."""
    return [chain_json(c) for c in chains_query(ctx.session, ctx.actor)]


@endpoint(api.post, "/chains", permission=Permission.ROLES, response=OBJECT, status=201, write=False)
def post_chain(ctx: Ctx, body: ChainIn) -> Any:
    """Create an approval chain (roles and timeouts validated by the operation)."""
    spec = ChainSpec(body.doc_kind, body.name, tuple(body.steps), body.min_value, body.urgent)
    return {"id": ctx.transact(lambda s, a: create_chain(s, a, spec).id)}


@endpoint(api.post, "/webhooks", permission=Permission.ROLES, response=OBJECT, status=201, write=False)
def post_webhook(ctx: Ctx, body: WebhookIn) -> Any:
    """Subscribe a URL to event kinds; the signing secret is returned once."""
    sub = ctx.transact(lambda s, a: subscribe_webhook(s, a, SubscribeWebhook(url=body.url, kinds=tuple(body.kinds))))
    return {"id": sub.subscription_id, "secret": sub.secret}


@endpoint(api.get, "/webhooks/<int:sub_id>/deliveries", permission=Permission.RULES, response=ARRAY)
def deliveries(ctx: Ctx, path: SubscriptionPath) -> Any:
    """The delivery log: each delivery with its latest attempt (from the relay's handler runs)."""
    return [line.to_dict() for line in webhook_deliveries(ctx.session, ctx.actor, path.sub_id)]


@endpoint(api.post, "/devices", permission=Permission.ROLES, response=OBJECT, status=201, write=False)
def post_device(ctx: Ctx, body: DeviceIn) -> Any:
    """Register a scale or sensor; its secret is returned once."""
    cmd = RegisterDevice(code=body.code, kind=body.kind, site_id=body.site_id, item_id=body.item_id,
                         config=body.config)

    def register(s: Any, a: Any) -> dict[str, Any]:
        device, secret = register_device(s, a, cmd)
        return {"id": device.id, "secret": secret}

    return Rendered(ctx.transact(register), 201)
