"""The outbox relay: every committed event reaches its handlers once; a failure leaves it pending."""

from __future__ import annotations

from decimal import Decimal

import pytest
from sqlalchemy import select

from models.infra import OutboxEvent
from models.operations import ReceiveGoods, receive_goods
from models.uow import run
from workflows.relay import HandlerRegistry, relay_pending


def _receive(session_factory, demo, actors):
    return run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal(3), unit="公斤",
        party_id=demo.parties["王阿姨"], grade_id=demo.grades["二级"]))


def _pending(session_factory, org_id):
    with session_factory() as session:
        return list(session.scalars(select(OutboxEvent).where(
            OutboxEvent.org_id == org_id, OutboxEvent.dispatched_at.is_(None))))


def test_relay_hands_each_event_to_its_handlers_once(session_factory, demo, actors):
    relay_pending(session_factory, limit=10_000)  # drain what other tests left
    receipt = _receive(session_factory, demo, actors)
    seen: list[tuple[str, object]] = []
    registry = HandlerRegistry()
    registry.register("receipt.posted", "collect")(lambda _s, e: seen.append((e.kind, e.payload["number"])))
    relay_pending(session_factory, handlers=registry, limit=10_000)
    relay_pending(session_factory, handlers=registry, limit=10_000)
    assert seen == [("receipt.posted", receipt.number)]
    assert _pending(session_factory, demo.org_id) == []


def test_a_failing_handler_leaves_the_event_pending(session_factory, demo, actors):
    relay_pending(session_factory, limit=10_000)
    _receive(session_factory, demo, actors)
    registry = HandlerRegistry()

    @registry.register("receipt.posted", "broken")
    def broken(_session, _event):
        raise RuntimeError("downstream is down")

    with pytest.raises(RuntimeError):
        relay_pending(session_factory, handlers=registry, limit=10_000)
    assert [e.kind for e in _pending(session_factory, demo.org_id)] == ["receipt.posted"]
