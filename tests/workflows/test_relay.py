"""The outbox relay: once per (event, handler), failures retried with backoff, dead letters replayable."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

from models.base import utcnow
from models.event_log import HandlerRun, Notification, RunStatus
from models.infra import OutboxEvent
from models.operations import ReceiveGoods, receive_goods
from models.uow import run
from workflows.kick import install_relay_kick
from workflows.relay import MAX_ATTEMPTS, HandlerRegistry, backoff, dead_letters, relay_pending, replay_dead, retry_due


def _receive(session_factory, demo, actors):
    return run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal(3), unit="公斤",
        party_id=demo.parties["王阿姨"], grade_id=demo.grades["二级"]))


def _pending(session_factory, org_id):
    with session_factory() as session:
        return list(session.scalars(select(OutboxEvent).where(
            OutboxEvent.org_id == org_id, OutboxEvent.dispatched_at.is_(None))))


def _runs(session_factory, org_id, handler):
    with session_factory() as session:
        return list(session.scalars(select(HandlerRun).where(HandlerRun.org_id == org_id,
                                                             HandlerRun.handler == handler)))


def test_relay_hands_each_event_to_its_handlers_once(session_factory, demo, actors):
    relay_pending(session_factory, limit=10_000, handlers=HandlerRegistry())  # drain what other tests left
    receipt = _receive(session_factory, demo, actors)
    seen: list[tuple[str, object]] = []
    registry = HandlerRegistry()
    registry.register("receipt.posted", "collect")(lambda _s, e: seen.append((e.kind, e.payload["number"])))
    relay_pending(session_factory, handlers=registry, limit=10_000)
    relay_pending(session_factory, handlers=registry, limit=10_000)
    assert seen == [("receipt.posted", receipt.number)]
    assert _pending(session_factory, demo.org_id) == []
    [done] = _runs(session_factory, demo.org_id, "collect")
    assert done.status == RunStatus.DONE and done.handled_at >= done.event_created_at


def test_a_failing_handler_is_rolled_back_alone_and_retried_with_backoff(session_factory, demo, actors):
    relay_pending(session_factory, limit=10_000, handlers=HandlerRegistry())
    # Other tests' failed runs wait for their retries too (retry_due is global): push them all past this test.
    while retry_due(session_factory, handlers=HandlerRegistry(), now=utcnow() + timedelta(days=365)):
        pass
    _receive(session_factory, demo, actors)
    registry = HandlerRegistry()
    calls = {"n": 0}

    @registry.register("receipt.posted", "flaky")
    def flaky(session, event):
        calls["n"] += 1
        session.add(Notification(org_id=event.org_id, channel="test", kind="x", title="flaky",
                                 dedupe_key=f"flaky-{event.id}-{calls['n']}"))
        session.flush()
        if calls["n"] == 1:
            raise RuntimeError("downstream is down")

    registry.register("receipt.posted", "fine")(lambda _s, _e: None)
    now = utcnow()
    relay_pending(session_factory, handlers=registry, limit=10_000, now=now)
    assert _pending(session_factory, demo.org_id) == []  # fanned out; the failure waits in handler_runs
    [failed] = _runs(session_factory, demo.org_id, "flaky")
    assert failed.status == RunStatus.RETRY and failed.attempts == 1 and "downstream" in failed.last_error
    assert failed.next_attempt_at == now + backoff(1)
    assert _runs(session_factory, demo.org_id, "fine")[0].status == RunStatus.DONE
    with session_factory() as session:  # the failed attempt's writes were rolled back with it
        assert session.scalar(select(Notification).where(Notification.dedupe_key.like("flaky-%-1"))) is None
    assert retry_due(session_factory, handlers=registry, now=now + timedelta(seconds=1)) == 0
    retry_due(session_factory, handlers=registry, now=now + backoff(1))
    [done] = _runs(session_factory, demo.org_id, "flaky")
    assert done.status == RunStatus.DONE and done.attempts == 2 and calls["n"] == 2
    retry_due(session_factory, handlers=registry, now=now + timedelta(hours=2))
    relay_pending(session_factory, handlers=registry, limit=10_000)
    assert calls["n"] == 2


def test_dead_letters_after_max_attempts_and_replay(session_factory, demo, actors):
    relay_pending(session_factory, limit=10_000, handlers=HandlerRegistry())
    _receive(session_factory, demo, actors)
    registry = HandlerRegistry()
    broken = {"on": True}

    @registry.register("receipt.posted", "broken")
    def handler(_session, _event):
        if broken["on"]:
            raise RuntimeError("still down")

    now = utcnow()
    relay_pending(session_factory, handlers=registry, limit=10_000, now=now)
    for n in range(1, MAX_ATTEMPTS):
        now = now + backoff(n)
        retry_due(session_factory, handlers=registry, now=now)
    [dead] = _runs(session_factory, demo.org_id, "broken")
    assert dead.status == RunStatus.DEAD and dead.attempts == MAX_ATTEMPTS
    with session_factory() as session:
        assert [d.id for d in dead_letters(session, demo.org_id)] == [dead.id]
        assert replay_dead(session, [dead.id], org_id=demo.org_id, now=now) == 1
        session.commit()
    broken["on"] = False
    retry_due(session_factory, handlers=registry, now=now)
    [done] = _runs(session_factory, demo.org_id, "broken")
    assert done.status == RunStatus.DONE


def test_commit_with_outbox_events_kicks_the_relay(engine, demo, actors):
    from models.db import make_session_factory

    factory = make_session_factory(engine)
    kicks: list[int] = []
    install_relay_kick(factory, lambda: kicks.append(1))
    _receive(factory, demo, actors)
    assert kicks == [1]
    with factory() as session:
        session.scalar(select(OutboxEvent.id).limit(1))
        session.commit()
    assert kicks == [1]


def test_a_batch_kicks_the_relay_once_after_its_commit(engine, demo, actors):
    """Savepoint releases inside a batch are not commits: one kick, after the real one."""
    from models.db import make_session_factory
    from models.operations import BatchOp, apply_batch

    factory = make_session_factory(engine)
    kicks: list[int] = []
    install_relay_kick(factory, lambda: kicks.append(1))
    cmd = ReceiveGoods(site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal("5"),
                       party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"])
    outcomes = apply_batch(factory, actors["小周"], [BatchOp(f"k-{n}-{demo.org_id}", receive_goods, cmd)
                                                      for n in range(3)])
    assert [o.status for o in outcomes] == ["applied"] * 3
    assert kicks == [1]
