"""Outbound webhooks: signed JSON per subscription, retried with backoff from the outbox, dead letters replayable."""

from __future__ import annotations

import time
from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

import workflows.handlers  # noqa: F401  (register relay handlers)
from devstubs.server import StubRequest, StubResponse, StubServer
from models.base import utcnow
from models.event_log import HandlerRun, RunStatus
from models.operations import ReceiveGoods, receive_goods
from models.uow import run
from models.webhooks import WebhookDelivery, WebhookSubscription
from workflows.relay import MAX_ATTEMPTS, backoff, registry, relay_pending, replay_dead, retry_due
from workflows.webhooks import sign, verify


def test_signature_and_freshness():
    body = b'{"a": 1}'
    ts = str(int(time.time()))
    assert verify("s3cret", ts, body, sign("s3cret", ts, body))
    assert not verify("s3cret", ts, body + b" ", sign("s3cret", ts, body))
    assert not verify("s3cret", str(int(time.time()) - 3600), body, sign("s3cret", str(int(time.time()) - 3600), body))


def test_events_are_posted_signed_retried_and_replayable(session_factory, demo, actors, monkeypatch):
    answers = [500, 200]
    with StubServer() as server:
        # The stub listens on loopback: allow exactly it (and plain http), as only tests may.
        monkeypatch.setenv("LIUZHUAN_WEBHOOK_ALLOW_HTTP", "1")
        monkeypatch.setenv("LIUZHUAN_WEBHOOK_ALLOW_HOSTS", server.netloc)
        @server.route("POST", "/hooks/erp")
        def hook(req: StubRequest) -> StubResponse:
            return StubResponse(answers.pop(0) if answers else 503, {"ok": True})

        with session_factory() as session:
            sub = WebhookSubscription(org_id=demo.org_id, url=f"{server.base_url}/hooks/erp", secret="erp-secret",
                                      kinds=["receipt.posted"], active=True)
            session.add(sub)
            session.commit()
        receipt = run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
            site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal(1), unit="公斤",
            party_id=demo.parties["王阿姨"], grade_id=demo.grades["二级"]))
        now = utcnow()
        while relay_pending(session_factory, limit=10_000, now=now):
            pass
        [first] = server.received("/hooks/erp")
        assert first.json()["kind"] == "receipt.posted" and first.json()["data"]["number"] == receipt.number
        assert verify("erp-secret", first.headers["x-liuzhuan-timestamp"], first.body,
                      first.headers["x-liuzhuan-signature"])
        with session_factory() as session:
            [delivery] = session.scalars(select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub.id))
            assert delivery.status == "pending"
            [failed] = session.scalars(select(HandlerRun).where(HandlerRun.org_id == demo.org_id,
                                                                HandlerRun.handler == "webhooks.send"))
            assert failed.status == RunStatus.RETRY and "HTTP 500" in failed.last_error
        retry_due(session_factory, now=now + backoff(1))
        assert len(server.received("/hooks/erp")) == 2
        with session_factory() as session:
            assert session.get(WebhookDelivery, delivery.id).status == "delivered"

        # A receiver that stays down: retries back off, end in the dead letters, and replay delivers.
        receipt2 = run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
            site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal(2), unit="公斤",
            party_id=demo.parties["王阿姨"], grade_id=demo.grades["二级"]))
        while relay_pending(session_factory, limit=10_000, now=now):
            pass
        for n in range(1, MAX_ATTEMPTS):
            now += backoff(n)
            retry_due(session_factory, now=now)
        with session_factory() as session:
            dead = session.scalar(select(HandlerRun).where(HandlerRun.org_id == demo.org_id,
                                                           HandlerRun.handler == "webhooks.send",
                                                           HandlerRun.status == RunStatus.DEAD))
            assert dead is not None and dead.attempts == MAX_ATTEMPTS
            replay_dead(session, [dead.id], org_id=demo.org_id, now=now)
            session.commit()
        answers.append(200)
        retry_due(session_factory, now=now + timedelta(seconds=1))
        assert server.received("/hooks/erp")[-1].json()["data"]["number"] == receipt2.number
        with session_factory() as session:
            assert session.get(HandlerRun, dead.id).status == RunStatus.DONE
    assert registry.find("webhook.delivery", "webhooks.send") is not None
