"""Outbound webhooks: per-org subscriptions, signed JSON, retries and dead letters through the outbox.

Fan-out writes one ``webhook.delivery`` outbox event per (subscription, event); its handler posts
it once. A failed POST raises, so the relay retries it with exponential backoff and finally
dead-letters it (replayable); the delivery row and the handler run together are the delivery log.

Signature: ``X-Liuzhuan-Signature: sha256=HEX(HMAC_SHA256(secret, f"{timestamp}.{body}"))`` with
``X-Liuzhuan-Timestamp`` (Unix seconds): receivers reject stale timestamps and compare digests.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.infra import OutboxEvent
from models.outbox import emit
from models.webhooks import WebhookDelivery, WebhookSubscription
from workflows.relay import registry

INTERNAL_KINDS = {"webhook.delivery"}
TIMEOUT_S = 5.0

def sign(secret: str, timestamp: str, body: bytes) -> str:
    """Return the signature header value for a body sent at ``timestamp``."""
    digest = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def verify(secret: str, timestamp: str, body: bytes, signature: str, *, tolerance_s: int = 300,
           now: float | None = None) -> bool:
    """Check a signature and that the timestamp is fresh (what a receiver should do)."""
    if not timestamp.isdigit() or abs((now or time.time()) - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def enqueue_delivery(session: Session, event: OutboxEvent, subscription_id: int) -> WebhookDelivery | None:
    """Queue ``event`` for one subscription (once); None when the subscription is gone or inactive."""
    sub = session.get(WebhookSubscription, subscription_id)
    if sub is None or sub.org_id != event.org_id or not sub.active:
        return None
    found = session.scalar(select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub.id,
                                                         WebhookDelivery.event_id == event.id))
    if found is not None:
        return found
    body = {"id": str(event.id), "kind": event.kind, "org_id": event.org_id,
            "created_at": event.created_at.isoformat(), "data": event.payload}
    delivery = WebhookDelivery(org_id=event.org_id, subscription_id=sub.id, event_id=event.id, status="pending",
                               attempts=0, body=body)
    session.add(delivery)
    session.flush()
    queued = emit(session, event.org_id, "webhook.delivery", {"delivery_id": delivery.id, "subscription_id": sub.id})
    session.flush()
    delivery.outbox_event_id = queued.id
    return delivery


@registry.register("*", "webhooks.fanout")
def fanout(session: Session, event: OutboxEvent) -> None:
    """Queue the event for every active subscription of its organisation that wants its kind."""
    if event.kind in INTERNAL_KINDS:
        return
    cache: dict[int, list[WebhookSubscription]] = session.info.setdefault("webhook_subscriptions", {})
    if event.org_id not in cache:  # once per org per relay batch
        cache[event.org_id] = list(session.scalars(select(WebhookSubscription).where(
            WebhookSubscription.org_id == event.org_id, WebhookSubscription.active.is_(True))))
    for sub in cache[event.org_id]:
        if "*" in sub.kinds or event.kind in sub.kinds:
            enqueue_delivery(session, event, sub.id)


@registry.register("webhook.delivery", "webhooks.send")
def send(session: Session, event: OutboxEvent) -> None:
    """POST one delivery; raise on anything but 2xx so the relay retries it."""
    delivery = session.get_one(WebhookDelivery, int(event.payload["delivery_id"]))
    if delivery.status == "delivered":
        return
    sub = session.get_one(WebhookSubscription, delivery.subscription_id)
    body = json.dumps(delivery.body, ensure_ascii=False, sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-Liuzhuan-Timestamp": timestamp,
               "X-Liuzhuan-Signature": sign(sub.secret, timestamp, body),
               "X-Liuzhuan-Event": delivery.body["kind"], "X-Liuzhuan-Delivery": str(delivery.id)}
    resp = requests.post(sub.url, data=body, headers=headers, timeout=TIMEOUT_S)
    if not 200 <= resp.status_code < 300:
        raise RuntimeError(f"webhook answered HTTP {resp.status_code}")
    delivery.status, delivery.response_status, delivery.delivered_at = "delivered", resp.status_code, utcnow()
    delivery.attempts += 1
