"""Reading the organisation's automation: rules and their versions, the rule sandbox, approval chains,
dead letters and webhook delivery logs.

Every query here requires Permission.RULES (managers, directors, admins): these lists show event
payloads, member ids and integration endpoints of the whole organisation, which a farmer or a
clerk must not read. They write nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.approvals import ApprovalChain
from models.base import utcnow
from models.event_log import HandlerRun, RunStatus
from models.infra import OutboxEvent
from models.lookup import get_owned
from models.operations.rules import RuleSpec, validate_rule
from models.rule_plan import RuleLike, plan
from models.rules import Rule, RuleVersion
from models.webhooks import WebhookDelivery, WebhookSubscription

#: The sandbox looks back at most this many days.
MAX_SANDBOX_DAYS = 90


def list_rules(session: Session, actor: Actor) -> list[Rule]:
    """Return the organisation's rules, oldest first. Requires Permission.RULES."""
    actor.require(Permission.RULES)
    return list(session.scalars(select(Rule).where(Rule.org_id == actor.org_id).order_by(Rule.id)))


def rules_last_fired(session: Session, actor: Actor) -> dict[int, datetime]:
    """Return {rule id: when it last fired} for the organisation's rules (from ``rule.fired`` events)."""
    actor.require(Permission.RULES)
    rule_id = OutboxEvent.payload["rule_id"].as_integer()
    # Annotated: mypy reads the fields of an unpacked Row as object.
    rows: Sequence[tuple[int | None, datetime]] = session.execute(
        select(rule_id, func.max(OutboxEvent.created_at))
        .where(OutboxEvent.org_id == actor.org_id, OutboxEvent.kind == "rule.fired")
        .group_by(rule_id)).all()
    return {rid: at for rid, at in rows if rid is not None}


def rule_of(session: Session, actor: Actor, rule_id: int) -> Rule:
    """Return one rule of the organisation (NotFound for another org's id). Requires Permission.RULES."""
    actor.require(Permission.RULES)
    return get_owned(session, Rule, rule_id, actor.org_id)


def rule_versions(session: Session, actor: Actor, rule_id: int) -> list[RuleVersion]:
    """Return every version of one rule of the organisation. Requires Permission.RULES."""
    actor.require(Permission.RULES)
    get_owned(session, Rule, rule_id, actor.org_id)
    return list(session.scalars(select(RuleVersion).where(
        RuleVersion.rule_id == rule_id, RuleVersion.org_id == actor.org_id).order_by(RuleVersion.version)))


def list_chains(session: Session, actor: Actor) -> list[ApprovalChain]:
    """Return the organisation's approval chains. Requires Permission.RULES."""
    actor.require(Permission.RULES)
    return list(session.scalars(select(ApprovalChain).where(ApprovalChain.org_id == actor.org_id)
                                .order_by(ApprovalChain.id)))


def dead_letters(session: Session, actor: Actor, limit: int = 100) -> list[HandlerRun]:
    """Return the organisation's dead handler runs, newest first. Requires Permission.RULES."""
    actor.require(Permission.RULES)
    return list(session.scalars(select(HandlerRun).where(
        HandlerRun.org_id == actor.org_id, HandlerRun.status == RunStatus.DEAD)
        .order_by(HandlerRun.id.desc()).limit(max(1, min(limit, 500)))))


@dataclass(frozen=True)
class DeliveryLine:
    id: int
    event_id: str
    kind: str | None
    status: str
    response_status: int | None
    delivered_at: datetime | None
    attempts: int
    run_status: str
    last_error: str
    dead_letter_id: int | None

    def to_dict(self) -> dict[str, Any]:
        """Render as the delivery-log JSON (times as ISO strings)."""
        return {**self.__dict__, "delivered_at": self.delivered_at.isoformat() if self.delivered_at else None}


def webhook_deliveries(session: Session, actor: Actor, subscription_id: int, limit: int = 200) -> list[DeliveryLine]:
    """The delivery log of one subscription: each delivery with its latest attempt. Requires Permission.RULES."""
    actor.require(Permission.RULES)
    get_owned(session, WebhookSubscription, subscription_id, actor.org_id)
    rows = session.execute(
        select(WebhookDelivery, HandlerRun).outerjoin(HandlerRun, and_(
            HandlerRun.event_id == WebhookDelivery.outbox_event_id, HandlerRun.handler == "webhooks.send"))
        .where(WebhookDelivery.subscription_id == subscription_id, WebhookDelivery.org_id == actor.org_id)
        .order_by(WebhookDelivery.id.desc()).limit(max(1, min(limit, 500))))
    return [DeliveryLine(
        id=d.id, event_id=str(d.event_id), kind=d.body.get("kind"), status=d.status,
        response_status=d.response_status, delivered_at=d.delivered_at,
        attempts=attempt.attempts if attempt else 0,
        run_status=attempt.status.value if attempt else "queued",
        last_error=attempt.last_error if attempt else "",
        dead_letter_id=attempt.id if attempt and attempt.status == RunStatus.DEAD else None) for d, attempt in rows]


@dataclass(frozen=True)
class SandboxHit:
    event_id: str
    kind: str
    at: datetime
    actions: list[str]


def replay_draft(session: Session, org_id: int, draft: RuleLike, *, days: int = 7, now: datetime | None = None,
                 limit: int = 5000) -> tuple[int, list[SandboxHit]]:
    """Replay a draft over the last ``days`` of ``org_id``'s events (unchecked: callers authorise)."""
    since = (now or utcnow()) - timedelta(days=days)
    # Annotated: mypy reads the fields of an unpacked Row as object.
    events: Sequence[tuple[Any, str, dict[str, Any], datetime]] = session.execute(
        select(OutboxEvent.id, OutboxEvent.kind, OutboxEvent.payload, OutboxEvent.created_at)
        .where(OutboxEvent.org_id == org_id, OutboxEvent.kind == draft.trigger, OutboxEvent.created_at >= since)
        .order_by(OutboxEvent.created_at).limit(limit)).all()
    hits = []
    for event_id, kind, payload, at in events:
        actions = plan(draft, kind, payload)
        if actions:
            hits.append(SandboxHit(str(event_id), kind, at, [a.description for a in actions]))
    return len(events), hits


def rule_sandbox(session: Session, actor: Actor, draft: RuleSpec, *, days: int = 7, now: datetime | None = None,
                 limit: int = 5000) -> tuple[int, list[SandboxHit]]:
    """Replay a draft rule over the last ``days`` (1..90) of the organisation's events.

    Requires Permission.RULES: the answer renders event payloads (farmers' names, weights, prices).
    The draft is validated like a saved rule, ids included. Writes nothing.
    """
    actor.require(Permission.RULES)
    validate_rule(draft, session, actor.org_id)
    days = min(max(int(days), 1), MAX_SANDBOX_DAYS)
    return replay_draft(session, actor.org_id, draft, days=days, now=now, limit=limit)


@dataclass(frozen=True)
class WebhookLine:
    id: int
    url: str
    kinds: list[str]
    active: bool
    created_at: datetime
    deliveries: int
    delivered: int
    last_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        """Render as JSON (times as ISO strings; the signing secret is never part of it)."""
        return {**self.__dict__, "created_at": self.created_at.isoformat(),
                "last_at": self.last_at.isoformat() if self.last_at else None}


def list_webhooks(session: Session, actor: Actor) -> list[WebhookLine]:
    """The organisation's webhook subscriptions with delivery counts (no secrets). Requires Permission.RULES."""
    actor.require(Permission.RULES)
    counts = {sid: (n, ok, last) for sid, n, ok, last in session.execute(
        select(WebhookDelivery.subscription_id, func.count(),
               func.count().filter(WebhookDelivery.status == "delivered"), func.max(WebhookDelivery.created_at))
        .where(WebhookDelivery.org_id == actor.org_id).group_by(WebhookDelivery.subscription_id))}
    subs = session.scalars(select(WebhookSubscription).where(WebhookSubscription.org_id == actor.org_id)
                           .order_by(WebhookSubscription.id))
    return [WebhookLine(s.id, s.url, list(s.kinds or []), s.active, s.created_at,
                        *counts.get(s.id, (0, 0, None))) for s in subs]
