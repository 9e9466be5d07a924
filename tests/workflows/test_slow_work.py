"""Slow work outside write transactions: forecasts compute and the relay calls out with no lock held."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import Engine, func, select

from devstubs.server import StubRequest, StubResponse, StubServer
from models import forecasting
from models.base import utcnow
from models.errors import IdempotencyConflict
from models.event_log import HandlerRun, RunStatus
from models.infra import OutboxEvent
from models.operations import ReceiveGoods, receive_goods
from models.operations.planning import RunForecast, run_forecast
from models.planning import ForecastLine, ForecastRun
from models.uow import run
from models.webhooks import WebhookDelivery, WebhookSubscription
from tests.models.planning_fakes import fake_forecast_series, weekly_history
from workflows.relay import LEASE, HandlerRegistry, NetworkHandler, backoff, relay_pending, retry_due


def held(engine: Engine) -> list[str]:
    """Say what of the database is held right now: checked-out connections, SQLite's write lock."""
    problems = []
    if engine.pool.checkedout():  # type: ignore[attr-defined]
        problems.append(f"{engine.pool.checkedout()} connection(s) checked out")  # type: ignore[attr-defined]
    if engine.dialect.name == "sqlite":
        raw = sqlite3.connect(str(engine.url.database), timeout=0, isolation_level=None)
        try:
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("ROLLBACK")
        except sqlite3.OperationalError as exc:
            problems.append(f"write lock: {exc}")
        finally:
            raw.close()
    return problems


def _receive(session_factory, demo, actors):
    return run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal(1), unit="公斤",
        party_id=demo.parties["王阿姨"], grade_id=demo.grades["二级"]))


def _count(session_factory, model, *where) -> int:
    with session_factory() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def test_the_probe_sees_a_held_transaction(session_factory, engine):
    with session_factory() as session:
        session.scalar(select(OutboxEvent.id).limit(1))  # begins a transaction (IMMEDIATE on SQLite)
        assert held(engine)
    assert held(engine) == []


def test_a_forecast_computes_with_no_connection_or_lock_held(monkeypatch, session_factory, engine, demo, actors):
    weekly_history(session_factory, demo, actors, "MD", [3, 4, 5])
    seen: list[list[str]] = []

    def engine_fn(*args, **kwargs):
        seen.append(held(engine))
        return fake_forecast_series(*args, **kwargs)

    monkeypatch.setattr(forecasting, "forecast_series", engine_fn)
    director = actors["钱总监"]
    result = run(session_factory, run_forecast, director, RunForecast(horizon=4), idempotency_key="slow-1")
    assert seen == [[]]
    assert (result.status, result.series, result.lines) == ("completed", 1, 4)
    assert _count(session_factory, ForecastLine, ForecastLine.run_id == result.run_id) == 4
    # The key still replays the first answer without computing again, and refuses another request.
    assert run(session_factory, run_forecast, director, RunForecast(horizon=4), idempotency_key="slow-1") == result
    assert len(seen) == 1
    with pytest.raises(IdempotencyConflict) as refused:
        run(session_factory, run_forecast, director, RunForecast(horizon=5), idempotency_key="slow-1")
    assert refused.value.code == "IDEMPOTENCY_CONFLICT" and len(seen) == 1
    assert _count(session_factory, ForecastRun, ForecastRun.org_id == demo.org_id) == 1
    assert _count(session_factory, OutboxEvent, OutboxEvent.org_id == demo.org_id,
                  OutboxEvent.kind == "forecast.completed") == 1


def test_a_network_handler_calls_out_with_nothing_held_and_a_dead_call_is_leased(session_factory, engine, demo,
                                                                                 actors):
    relay_pending(session_factory, limit=10_000, handlers=HandlerRegistry())  # drain what other tests left
    receipt = _receive(session_factory, demo, actors)
    calls: list[list[str]] = []
    finished: list[str] = []
    dies = {"on": True}

    def call(number: str) -> str:
        calls.append(held(engine))
        if dies["on"]:
            raise SystemExit("the worker died mid-call")
        return f"sent {number}"

    registry = HandlerRegistry()
    registry.register("receipt.posted", "net")(NetworkHandler(
        prepare=lambda _s, e: e.payload["number"], call=call, finish=lambda _s, _e, out: finished.append(out)))
    now = utcnow()
    with pytest.raises(SystemExit):
        relay_pending(session_factory, handlers=registry, limit=10_000, now=now)
    assert calls == [[]]
    with session_factory() as session:
        [leased] = session.scalars(select(HandlerRun).where(HandlerRun.org_id == demo.org_id,
                                                            HandlerRun.handler == "net"))
        assert session.scalar(select(func.count()).select_from(OutboxEvent).where(
            OutboxEvent.org_id == demo.org_id, OutboxEvent.dispatched_at.is_(None))) == 0
    assert (leased.status, leased.attempts, leased.next_attempt_at) == (RunStatus.RETRY, 1, now + LEASE)
    assert retry_due(session_factory, handlers=registry, now=now + backoff(1)) == 0  # leased: left alone
    dies["on"] = False
    assert retry_due(session_factory, handlers=registry, now=now + LEASE) == 1
    assert calls == [[], []] and finished == [f"sent {receipt.number}"]
    with session_factory() as session:
        done = session.get_one(HandlerRun, leased.id)
        assert (done.status, done.attempts, done.next_attempt_at) == (RunStatus.DONE, 2, None)
    relay_pending(session_factory, handlers=registry, limit=10_000)
    retry_due(session_factory, handlers=registry, now=now + timedelta(hours=2))
    assert len(calls) == 2 and len(finished) == 1


def test_a_webhook_is_posted_with_nothing_held(session_factory, engine, demo, actors, monkeypatch):
    import workflows.handlers  # noqa: F401  (register relay handlers)

    seen: list[list[str]] = []
    with StubServer() as server:
        monkeypatch.setenv("LIUZHUAN_WEBHOOK_ALLOW_HTTP", "1")
        monkeypatch.setenv("LIUZHUAN_WEBHOOK_ALLOW_HOSTS", server.netloc)

        @server.route("POST", "/hooks/slow")
        def hook(_req: StubRequest) -> StubResponse:
            seen.append(held(engine))
            return StubResponse(200, {"ok": True})

        with session_factory() as session:
            sub = WebhookSubscription(org_id=demo.org_id, url=f"{server.base_url}/hooks/slow", secret="s",
                                      kinds=["receipt.posted"], active=True)
            session.add(sub)
            session.commit()
        _receive(session_factory, demo, actors)
        while relay_pending(session_factory, limit=10_000):
            pass
    assert seen == [[]]
    with session_factory() as session:
        [delivery] = session.scalars(select(WebhookDelivery).where(WebhookDelivery.subscription_id == sub.id))
        assert (delivery.status, delivery.response_status, delivery.attempts) == ("delivered", 200, 1)
        [sent] = session.scalars(select(HandlerRun).where(HandlerRun.event_id == delivery.outbox_event_id,
                                                          HandlerRun.handler == "webhooks.send"))
        assert (sent.status, sent.attempts) == (RunStatus.DONE, 1)
