"""Rules, approval chains, webhooks and devices over HTTP: validated by the operations, audited."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any, TypeVar

from flask import Blueprint, jsonify
from sqlalchemy import and_, select
from sqlalchemy.orm import Session

from miniprogram_api.apiutil import reader, transact
from miniprogram_api.jsonfields import decimal_field, int_field, json_object
from models.actor import Actor
from models.approvals import ApprovalChain
from models.errors import ValidationError
from models.event_log import HandlerRun
from models.lookup import get_owned
from models.operations.approvals import ChainSpec, create_chain
from models.operations.devices import RegisterDevice, register_device
from models.operations.rules import TRIGGERS, RuleSpec, create_rule, set_rule_enabled, update_rule
from models.operations.webhooks import SubscribeWebhook, subscribe_webhook
from models.rules import Rule, RuleVersion
from models.webhooks import WebhookDelivery, WebhookSubscription
from workflows.rules import sandbox

bp = Blueprint("workflows_config", __name__, url_prefix="/api/v1/workflows")
R = TypeVar("R")


def _read(fn: Callable[[Session, Actor], R]) -> R:
    """Run a query on the request's read-only session for the signed-in member."""
    session, actor = reader()
    return fn(session, actor)


def _spec(body: dict[str, Any]) -> RuleSpec:
    actions = body.get("actions") or []
    if not isinstance(actions, list) or not all(isinstance(a, dict) for a in actions):
        raise ValidationError("actions 须是对象列表", field="actions")
    return RuleSpec(code=str(body.get("code", "")), name=str(body.get("name", "")),
                    trigger=str(body.get("trigger", "")), condition=body.get("condition") or {},
                    actions=tuple(actions), enabled=bool(body.get("enabled", True)))


def rule_json(rule: Rule) -> dict[str, Any]:
    return {"id": rule.id, "code": rule.code, "name": rule.name, "trigger": rule.trigger, "condition": rule.condition,
            "actions": rule.actions, "enabled": rule.enabled, "version": rule.version}


@bp.get("/rules")
def list_rules() -> Any:
    def q(session: Session, actor: Actor) -> list[dict[str, Any]]:
        rules = session.scalars(select(Rule).where(Rule.org_id == actor.org_id).order_by(Rule.id))
        return [rule_json(r) for r in rules]

    return jsonify({"rules": _read(q), "triggers": TRIGGERS})


@bp.post("/rules")
def post_rule() -> Any:
    return jsonify(transact(lambda s, a: rule_json(create_rule(s, a, _spec(json_object()))))), 201


@bp.put("/rules/<int:rule_id>")
def put_rule(rule_id: int) -> Any:
    body = json_object()
    spec, reason = _spec(body), str(body.get("reason", ""))
    return jsonify(transact(lambda s, a: rule_json(update_rule(s, a, rule_id, spec, reason))))


@bp.post("/rules/<int:rule_id>/<any(enable, disable):what>")
def toggle_rule(rule_id: int, what: str) -> Any:
    return jsonify(transact(lambda s, a: rule_json(set_rule_enabled(s, a, rule_id, what == "enable"))))


@bp.get("/rules/<int:rule_id>/versions")
def rule_versions(rule_id: int) -> Any:
    def q(session: Session, actor: Actor) -> list[dict[str, Any]]:
        rows = session.scalars(select(RuleVersion).where(
            RuleVersion.rule_id == rule_id, RuleVersion.org_id == actor.org_id).order_by(RuleVersion.version))
        return [{"version": v.version, "body": v.body, "changed_by": v.changed_by, "at": v.created_at.isoformat()}
                for v in rows]

    return jsonify(_read(q))


@bp.post("/rules/sandbox")
def sandbox_rule() -> Any:
    """Replay a draft over the last ``days`` (≤ 90) of events; writes nothing."""
    body = json_object()
    spec = _spec({"code": "draft", "name": "草稿", **body})
    from models.operations.rules import validate_rule

    validate_rule(spec)
    days = min(max(int_field(body.get("days", 7), "days") or 7, 1), 90)
    session, actor = reader()
    seen, hits = sandbox(session, actor.org_id, spec, days=days)
    session.rollback()  # the sandbox writes nothing
    return jsonify({"events_seen": seen, "would_fire": len(hits), "hits": [
        {"event_id": h.event_id, "at": h.at.isoformat(), "actions": h.actions} for h in hits]})


@bp.get("/chains")
def list_chains() -> Any:
    def q(session: Session, actor: Actor) -> list[dict[str, Any]]:
        return [{"id": c.id, "doc_kind": c.doc_kind, "name": c.name, "min_value": str(c.min_value),
                 "urgent": c.urgent, "steps": c.steps, "active": c.active}
                for c in session.scalars(select(ApprovalChain).where(ApprovalChain.org_id == actor.org_id))]

    return jsonify(_read(q))


@bp.post("/chains")
def post_chain() -> Any:
    body = json_object()
    min_value = decimal_field(body.get("min_value", "0"), "min_value") or Decimal(0)
    spec = ChainSpec(str(body.get("doc_kind", "")), str(body.get("name", "")), tuple(body.get("steps") or ()),
                     min_value, body.get("urgent"))
    return jsonify({"id": transact(lambda s, a: create_chain(s, a, spec).id)}), 201


@bp.post("/webhooks")
def post_webhook() -> Any:
    """Subscribe a URL to event kinds; the signing secret is returned once."""
    body = json_object()
    kinds = body.get("kinds") or []
    if not isinstance(kinds, list):
        raise ValidationError("须订阅至少一种事件", field="kinds")
    cmd = SubscribeWebhook(url=str(body.get("url", "")), kinds=tuple(str(k) for k in kinds))
    sub = transact(lambda s, a: subscribe_webhook(s, a, cmd))
    return jsonify({"id": sub.subscription_id, "secret": sub.secret}), 201


@bp.get("/webhooks/<int:sub_id>/deliveries")
def deliveries(sub_id: int) -> Any:
    """The delivery log: each delivery with its latest attempt (from the relay's handler runs)."""
    def q(session: Session, actor: Actor) -> list[dict[str, Any]]:
        get_owned(session, WebhookSubscription, sub_id, actor.org_id)
        rows = session.execute(
            select(WebhookDelivery, HandlerRun).outerjoin(HandlerRun, and_(
                HandlerRun.event_id == WebhookDelivery.outbox_event_id, HandlerRun.handler == "webhooks.send"))
            .where(WebhookDelivery.subscription_id == sub_id).order_by(WebhookDelivery.id.desc()).limit(200))
        return [{"id": d.id, "event_id": str(d.event_id), "kind": d.body.get("kind"), "status": d.status,
                 "response_status": d.response_status,
                 "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
                 "attempts": attempt.attempts if attempt else 0,
                 "run_status": attempt.status.value if attempt else "queued",
                 "last_error": attempt.last_error if attempt else "",
                 "dead_letter_id": attempt.id if attempt and attempt.status.value == "dead" else None}
                for d, attempt in rows]

    return jsonify(_read(q))


@bp.post("/devices")
def post_device() -> Any:
    """Register a scale or sensor; its secret is returned once."""
    body = json_object()
    cmd = RegisterDevice(code=str(body.get("code", "")), kind=str(body.get("kind", "")),
                         site_id=int_field(body.get("site_id"), "site_id") or 0,
                         item_id=int_field(body.get("item_id"), "item_id", required=False),
                         config=body.get("config") or {})
    device, secret = transact(lambda s, a: register_device(s, a, cmd))
    device_id = device.id
    return jsonify({"id": device_id, "secret": secret}), 201
