"""Outbound webhook subscriptions: who gets which events, signed with a secret shown once."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.audit import record_audit
from models.errors import ValidationError, WebhookDuplicate
from models.idempotency import idempotent
from models.lookup import get_owned
from models.netguard import check_url
from models.operations.rules import TRIGGERS
from models.org import Org
from models.webhooks import WebhookSubscription

MAX_KINDS = 50


@dataclass(frozen=True)
class SubscribeWebhook:
    url: str
    #: Event kinds ("receipt.posted", …) or ["*"].
    kinds: tuple[str, ...]


@dataclass(frozen=True)
class Subscription:
    subscription_id: int
    #: The signing secret: returned this once, never shown again.
    secret: str


def subscribe_webhook(session: Session, actor: Actor, cmd: SubscribeWebhook) -> Subscription:
    """Subscribe a public https URL to event kinds (audited); return its signing secret.

    Refuses WEBHOOK_URL_FORBIDDEN for loopback, private, link-local, metadata or unresolvable hosts,
    and WEBHOOK_DUPLICATE when the organisation already sends one of these kinds to this URL (paused
    or not): a second subscription would POST every such event twice. Refused rather than returning the
    existing one, because its secret is shown only once and an answer without a secret is no use.
    """
    actor.require(Permission.ROLES)
    # SSRF: the worker must never be pointed at our own network (checked again before every POST).
    check_url(cmd.url)
    if (not cmd.kinds or len(cmd.kinds) > MAX_KINDS
            or not all(isinstance(k, str) and len(k) <= 48 and (k == "*" or k in TRIGGERS or "." in k)
                       for k in cmd.kinds)):
        raise ValidationError(f"须订阅 1 到 {MAX_KINDS} 种事件", field="kinds")
    _refuse_duplicate(session, actor.org_id, cmd.url, cmd.kinds)
    secret = secrets.token_urlsafe(32)
    sub = WebhookSubscription(org_id=actor.org_id, url=cmd.url, secret=secret, kinds=list(cmd.kinds))
    session.add(sub)
    session.flush()
    record_audit(session, actor, "webhook.subscribe", "webhook", sub.id, before=None,
                 after={"url": cmd.url, "kinds": list(cmd.kinds)})
    return Subscription(sub.id, secret)


def _refuse_duplicate(session: Session, org_id: int, url: str, kinds: tuple[str, ...]) -> None:
    """WebhookDuplicate when a subscription of this org already covers one of ``kinds`` at ``url``."""
    wanted = set(kinds)
    # The organisation's row is the lock: two parallel subscriptions (no row to lock yet) run one at a time.
    session.get(Org, org_id, with_for_update=True)
    existing = session.scalars(select(WebhookSubscription).where(
        WebhookSubscription.org_id == org_id, WebhookSubscription.url == url)).all()
    for sub in existing:
        held = set(sub.kinds or ())
        if "*" in held or "*" in wanted or held & wanted:
            raise WebhookDuplicate(f"该网址已订阅这些事件（编号 {sub.id}），请直接启用那一条",
                                   field="url", subscription_id=sub.id)


@dataclass(frozen=True)
class SwitchWebhook:
    subscription_id: int
    active: bool


@dataclass(frozen=True)
class WebhookSwitched:
    subscription_id: int
    active: bool


@idempotent("webhook.switch")
def switch_webhook(session: Session, actor: Actor, cmd: SwitchWebhook) -> WebhookSwitched:
    """Pause or resume a subscription (audited). Resuming checks its URL again: DNS may have moved."""
    actor.require(Permission.ROLES)
    sub = get_owned(session, WebhookSubscription, cmd.subscription_id, actor.org_id, lock=True)
    if sub.active != cmd.active:
        if cmd.active:
            check_url(sub.url)
        sub.active = cmd.active
        record_audit(session, actor, "webhook.enable" if cmd.active else "webhook.disable", "webhook", sub.id,
                     before={"active": not cmd.active}, after={"active": cmd.active})
    return WebhookSwitched(sub.id, sub.active)
