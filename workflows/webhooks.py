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
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from sqlalchemy import select
from sqlalchemy.orm import Session

from models.base import utcnow
from models.infra import OutboxEvent
from models.netguard import CheckedUrl, check_url
from models.outbox import emit
from models.webhooks import WebhookDelivery, WebhookSubscription
from workflows.relay import NetworkHandler, registry

INTERNAL_KINDS = {"webhook.delivery"}
TIMEOUT_S = 5.0


class _PinnedAdapter(HTTPAdapter):
    """Connect to the address that was checked, not to a second DNS answer (DNS rebinding)."""

    def __init__(self, checked: CheckedUrl) -> None:
        self._checked = checked  # read by init_poolmanager, which HTTPAdapter.__init__ calls
        super().__init__(max_retries=0)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **kw: Any) -> None:
        if self._checked.scheme == "https":  # certificate and SNI still name the host, not the IP
            kw.update(server_hostname=self._checked.host, assert_hostname=self._checked.host)
        super().init_poolmanager(connections, maxsize, block, **kw)


def post_checked(url: str, body: bytes, headers: dict[str, str]) -> requests.Response:
    """POST to a URL only after checking its addresses again, pinned to a checked one, no redirects."""
    checked = check_url(url)
    address = checked.addresses[0]
    parts = urlsplit(url)
    netloc = f"[{address}]" if ":" in address else address
    pinned = urlunsplit((parts.scheme, f"{netloc}:{checked.port}", parts.path, parts.query, ""))
    default_port = 443 if checked.scheme == "https" else 80
    host_header = checked.host if checked.port == default_port else f"{checked.host}:{checked.port}"
    with requests.Session() as http:
        http.trust_env = False  # no proxy from the environment: the checked address is the one we reach
        http.mount(f"{parts.scheme}://", _PinnedAdapter(checked))
        return http.post(pinned, data=body, headers={**headers, "Host": host_header}, timeout=TIMEOUT_S,
                         allow_redirects=False)


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


@dataclass(frozen=True)
class Post:
    """One delivery's POST, prepared in a transaction and sent outside it."""

    delivery_id: int
    url: str
    body: bytes
    headers: dict[str, str]


def prepare_send(session: Session, event: OutboxEvent) -> Post | None:
    """Read one delivery and sign its body; None when it was already delivered."""
    delivery = session.get_one(WebhookDelivery, int(event.payload["delivery_id"]))
    if delivery.status == "delivered":
        return None
    sub = session.get_one(WebhookSubscription, delivery.subscription_id)
    body = json.dumps(delivery.body, ensure_ascii=False, sort_keys=True).encode()
    timestamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-Liuzhuan-Timestamp": timestamp,
               "X-Liuzhuan-Signature": sign(sub.secret, timestamp, body),
               "X-Liuzhuan-Event": delivery.body["kind"], "X-Liuzhuan-Delivery": str(delivery.id)}
    return Post(delivery.id, sub.url, body, headers)


def call_send(post: Post) -> int:
    """POST (no database session); raise on anything but 2xx so the relay retries it."""
    resp = post_checked(post.url, post.body, post.headers)
    if not 200 <= resp.status_code < 300:
        raise RuntimeError(f"webhook answered HTTP {resp.status_code}")
    return resp.status_code


def finish_send(session: Session, event: OutboxEvent, status_code: int) -> None:
    """Mark the delivery delivered."""
    delivery = session.get_one(WebhookDelivery, int(event.payload["delivery_id"]), with_for_update=True)
    if delivery.status == "delivered":
        return
    delivery.status, delivery.response_status, delivery.delivered_at = "delivered", status_code, utcnow()
    delivery.attempts += 1


#: POST one delivery, its HTTP call outside any transaction (see workflows.relay.NetworkHandler).
send = registry.register("webhook.delivery", "webhooks.send")(
    NetworkHandler(prepare=prepare_send, call=call_send, finish=finish_send))
