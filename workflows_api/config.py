"""Rules, approval chains, webhooks and devices over HTTP: validated by the operations, audited."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar

from flask import Blueprint, current_app, jsonify, request
from sqlalchemy import select
from sqlalchemy.orm import Session

from miniprogram_api.auth import current_actor
from models.actor import Actor, Permission
from models.approvals import ApprovalChain
from models.audit import record_audit
from models.errors import DomainError, NotFound, ValidationError
from models.event_log import HandlerRun
from models.operations.approvals import ChainSpec, create_chain
from models.operations.devices import RegisterDevice, register_device
from models.operations.rules import TRIGGERS, RuleSpec, create_rule, set_rule_enabled, update_rule
from models.rules import Rule, RuleVersion
from models.webhooks import WebhookDelivery, WebhookSubscription
from workflows.rules import sandbox

bp = Blueprint("workflows_config", __name__, url_prefix="/api/v1/workflows")
R = TypeVar("R")


@bp.errorhandler(DomainError)
def _domain_error(exc: DomainError) -> Any:
    return jsonify({"error": exc.to_dict()}), exc.http_status


def _write(fn: Callable[[Session, Actor], R]) -> R:
    """Run ``fn(session, actor)`` as one transaction for the calling member."""
    with current_app.extensions["liuzhuan"]["session_factory"]() as session:
        actor = current_actor(session)
        result = fn(session, actor)
        session.commit()
        return result


def _body() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise ValidationError("请求体须是 JSON 对象")
    return body


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

    return jsonify({"rules": _write(q), "triggers": TRIGGERS})


@bp.post("/rules")
def post_rule() -> Any:
    return jsonify(_write(lambda s, a: rule_json(create_rule(s, a, _spec(_body()))))), 201


@bp.put("/rules/<int:rule_id>")
def put_rule(rule_id: int) -> Any:
    body = _body()
    return jsonify(_write(lambda s, a: rule_json(update_rule(s, a, rule_id, _spec(body), str(body.get("reason", ""))))))


@bp.post("/rules/<int:rule_id>/<any(enable, disable):what>")
def toggle_rule(rule_id: int, what: str) -> Any:
    return jsonify(_write(lambda s, a: rule_json(set_rule_enabled(s, a, rule_id, what == "enable"))))


@bp.get("/rules/<int:rule_id>/versions")
def rule_versions(rule_id: int) -> Any:
    def q(session: Session, actor: Actor) -> list[dict[str, Any]]:
        rows = session.scalars(select(RuleVersion).where(
            RuleVersion.rule_id == rule_id, RuleVersion.org_id == actor.org_id).order_by(RuleVersion.version))
        return [{"version": v.version, "body": v.body, "changed_by": v.changed_by, "at": v.created_at.isoformat()}
                for v in rows]

    return jsonify(_write(q))


@bp.post("/rules/sandbox")
def sandbox_rule() -> Any:
    """Replay a draft over the last ``days`` (≤ 90) of events; writes nothing."""
    body = _body()
    spec = _spec({"code": "draft", "name": "草稿", **body})
    from models.operations.rules import validate_rule

    validate_rule(spec)
    days = min(max(int(body.get("days", 7)), 1), 90)
    with current_app.extensions["liuzhuan"]["session_factory"]() as session:
        actor = current_actor(session)
        seen, hits = sandbox(session, actor.org_id, spec, days=days)
        session.rollback()
    return jsonify({"events_seen": seen, "would_fire": len(hits), "hits": [
        {"event_id": h.event_id, "at": h.at.isoformat(), "actions": h.actions} for h in hits]})


@bp.get("/chains")
def list_chains() -> Any:
    def q(session: Session, actor: Actor) -> list[dict[str, Any]]:
        return [{"id": c.id, "doc_kind": c.doc_kind, "name": c.name, "min_value": str(c.min_value),
                 "urgent": c.urgent, "steps": c.steps, "active": c.active}
                for c in session.scalars(select(ApprovalChain).where(ApprovalChain.org_id == actor.org_id))]

    return jsonify(_write(q))


@bp.post("/chains")
def post_chain() -> Any:
    body = _body()
    try:
        min_value = Decimal(str(body.get("min_value", "0")))
    except InvalidOperation:
        raise ValidationError("门槛须是数字", field="min_value") from None
    spec = ChainSpec(str(body.get("doc_kind", "")), str(body.get("name", "")), tuple(body.get("steps") or ()),
                     min_value, body.get("urgent"))
    return jsonify({"id": _write(lambda s, a: create_chain(s, a, spec).id)}), 201


@bp.post("/webhooks")
def post_webhook() -> Any:
    """Subscribe a URL to event kinds; the signing secret is returned once."""
    body = _body()
    url, kinds = str(body.get("url", "")), body.get("kinds") or []
    if not url.startswith(("https://", "http://")):
        raise ValidationError("网址须以 https:// 开头", field="url")
    if not isinstance(kinds, list) or not kinds or not all(k == "*" or k in TRIGGERS or "." in str(k) for k in kinds):
        raise ValidationError("须订阅至少一种事件", field="kinds")
    secret = secrets.token_urlsafe(32)

    def add(session: Session, actor: Actor) -> int:
        actor.require(Permission.ROLES)
        sub = WebhookSubscription(org_id=actor.org_id, url=url, secret=secret, kinds=[str(k) for k in kinds])
        session.add(sub)
        session.flush()
        record_audit(session, actor, "webhook.subscribe", "webhook", sub.id, before=None,
                     after={"url": url, "kinds": kinds})
        return sub.id

    return jsonify({"id": _write(add), "secret": secret}), 201


@bp.get("/webhooks/<int:sub_id>/deliveries")
def deliveries(sub_id: int) -> Any:
    """The delivery log: each delivery with its latest attempt (from the relay's handler runs)."""
    def q(session: Session, actor: Actor) -> list[dict[str, Any]]:
        sub = session.get(WebhookSubscription, sub_id)
        if sub is None or sub.org_id != actor.org_id:
            raise NotFound("找不到该订阅")
        rows = session.scalars(select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub_id)
                               .order_by(WebhookDelivery.id.desc()).limit(200))
        out = []
        for d in rows:
            attempt = session.scalar(select(HandlerRun).where(HandlerRun.event_id == d.outbox_event_id,
                                                              HandlerRun.handler == "webhooks.send"))
            out.append({"id": d.id, "event_id": str(d.event_id), "kind": d.body.get("kind"), "status": d.status,
                        "response_status": d.response_status,
                        "delivered_at": d.delivered_at.isoformat() if d.delivered_at else None,
                        "attempts": attempt.attempts if attempt else 0,
                        "run_status": attempt.status.value if attempt else "queued",
                        "last_error": attempt.last_error if attempt else "",
                        "dead_letter_id": attempt.id if attempt and attempt.status.value == "dead" else None})
        return out

    return jsonify(_write(q))


@bp.post("/devices")
def post_device() -> Any:
    """Register a scale or sensor; its secret is returned once."""
    body = _body()
    cmd = RegisterDevice(code=str(body.get("code", "")), kind=str(body.get("kind", "")),
                         site_id=int(body.get("site_id") or 0), item_id=body.get("item_id"),
                         config=body.get("config") or {})
    device_id, secret = _write(lambda s, a: (lambda d: (d[0].id, d[1]))(register_device(s, a, cmd)))
    return jsonify({"id": device_id, "secret": secret}), 201
