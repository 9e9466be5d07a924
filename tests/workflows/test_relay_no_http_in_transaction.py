"""The relay makes no platform call (DingTalk card, WeChat message, bot push) while a write transaction is open.

The probe messenger looks at the database at the moment of each call: on SQLite a second connection
must get the write lock (``BEGIN IMMEDIATE``, short busy timeout); on PostgreSQL no other backend of
the test database may be idle in a transaction. Before the relay deferred these calls they ran inside
the batch's transaction, after the handler had already written its notification rows.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

import bot.push  # registers the bots' relay handlers too, as the worker does
import workflows.handlers  # noqa: F401  (register relay handlers)
from models.approvals import ApprovalRequest
from models.base import utcnow
from models.documents import DocKind
from models.event_log import HandlerRun, Notification, RunStatus
from models.operations import CreateOrder, OrderLineIn, create_order
from models.outbox import emit
from models.tasks import Todo
from models.uow import run
from tests.factories import drain
from workflows.messenger import set_messenger
from workflows.relay import relay_pending, retry_due


def write_lock_free(engine: Engine) -> bool:
    """True when nobody holds a write transaction on the test database right now."""
    if engine.dialect.name == "sqlite":
        probe = sqlite3.connect(engine.url.database or "", timeout=0.05, isolation_level=None)
        try:
            probe.execute("BEGIN IMMEDIATE")  # fails with "database is locked" while a writer is open
            probe.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            probe.close()
    with engine.connect() as conn:
        return conn.scalar(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND pid <> pg_backend_pid() AND state LIKE 'idle in transaction%'")) == 0


@dataclass
class ProbeMessenger:
    """Records each call and whether the database was free of write transactions at that moment."""

    engine: Engine
    fail: int = 0  # how many calls to refuse (a platform outage)
    calls: list[tuple[str, Any, bool]] = field(default_factory=list)

    def _note(self, what: str, target: Any) -> None:
        self.calls.append((what, target, write_lock_free(self.engine)))
        if self.fail:
            self.fail -= 1
            raise RuntimeError("platform unavailable")

    def send_card(self, track_id: str, user_ids: list[str], params: dict[str, str]) -> None:
        self._note("card", track_id)

    def update_card(self, track_id: str, params: dict[str, str]) -> None:
        self._note("update", track_id)

    def send_subscribe(self, openid: str, message: dict[str, Any]) -> None:
        self._note("subscribe", openid)


@pytest.fixture
def probe(engine, session_factory):
    drain(session_factory)  # what earlier tests left, sent to the default messenger
    messenger = ProbeMessenger(engine)
    set_messenger(messenger)
    yield messenger
    set_messenger(None)


def _big_order(session_factory, demo, actor) -> int:
    """¥20,000 of 龙井: over the approval threshold, so an approval opens (event approval.opened)."""
    order = run(session_factory, create_order, actor, CreateOrder(
        DocKind.PURCHASE_ORDER, demo.sites["ZC"], demo.parties["包装厂"],
        (OrderLineIn(demo.items["龙井"], Decimal(1000), None, Decimal(20)),)))
    return order.document_id


def _runs(session_factory, org_id: int, handler: str) -> list[HandlerRun]:
    with session_factory() as s:
        return list(s.scalars(select(HandlerRun).where(HandlerRun.org_id == org_id, HandlerRun.handler == handler)))


def test_approval_cards_and_notices_are_sent_with_no_write_transaction_open(session_factory, demo, actors, probe):
    order_id = _big_order(session_factory, demo, actors["赵经理"])
    with session_factory.begin() as s:
        emit(s, demo.org_id, "todo.created", {"title": "复核冷库温度", "kind": "manual",
                                              "member_id": demo.members["赵经理"]})
    relay_pending(session_factory, limit=10_000)

    with session_factory() as s:
        req = s.scalars(select(ApprovalRequest).where(ApprovalRequest.document_id == order_id)).one()
        todos = s.scalar(select(func.count()).select_from(Todo).where(Todo.org_id == demo.org_id,
                                                                     Todo.document_id == order_id))
        unsent = s.scalar(select(func.count()).select_from(Notification).where(
            Notification.org_id == demo.org_id, Notification.sent_at.is_(None)))
    cards = [c for c in probe.calls if c[0] == "card"]
    assert any(str(target).startswith(req.card_track_id) for _w, target, _f in cards)  # the approval card
    assert any(str(target).startswith("note-") for _w, target, _f in cards)  # the to-do notice
    assert [c for c in probe.calls if not c[2]] == []  # every call saw the database free
    assert todos == 1 and unsent == 0  # the bookkeeping after the sends was done, the notices marked sent
    for handler in ("approvals.notify_level", "notify.todo_created"):
        assert [(r.status, r.attempts) for r in _runs(session_factory, demo.org_id, handler)] == [
            (RunStatus.DONE, 1)]


def test_a_failed_send_is_retried_and_its_bookkeeping_done_once(session_factory, demo, actors, probe):
    probe.fail = 1
    order_id = _big_order(session_factory, demo, actors["赵经理"])
    relay_pending(session_factory, limit=10_000)
    [failed] = _runs(session_factory, demo.org_id, "approvals.notify_level")
    assert failed.status == RunStatus.RETRY and "platform unavailable" in failed.last_error
    with session_factory() as s:  # the level is logged but not sent; its to-do waits for the card
        level = s.scalars(select(Notification).where(Notification.org_id == demo.org_id,
                                                     Notification.kind == "approval.level")).one()
        assert level.sent_at is None
        assert s.scalar(select(func.count()).select_from(Todo).where(Todo.document_id == order_id)) == 0

    retry_due(session_factory, now=utcnow() + timedelta(hours=2))
    [done] = _runs(session_factory, demo.org_id, "approvals.notify_level")
    assert (done.status, done.attempts) == (RunStatus.DONE, 2)
    with session_factory() as s:
        assert s.get_one(Notification, level.id).sent_at is not None
        assert s.scalar(select(func.count()).select_from(Todo).where(Todo.document_id == order_id)) == 1
    track = [target for what, target, _f in probe.calls if what == "card"]
    assert len(track) == 2 and track[0] == track[1]  # sent again under the same outTrackId
    assert all(free for _w, _t, free in probe.calls)


def test_bot_push_is_sent_with_no_write_transaction_open(session_factory, demo, engine, probe, monkeypatch):
    pushed: list[tuple[str, bool]] = []

    class Platform:
        def push_text(self, user_id: str, text_: str) -> None:
            pushed.append((text_, write_lock_free(engine)))

    monkeypatch.setattr(bot.push, "platform_for", lambda _channel, _config: Platform())
    with session_factory.begin() as s:
        emit(s, demo.org_id, "chat.push", {"channel": "dingtalk", "user_id": "zhao", "text": "调拨已批准"})
    relay_pending(session_factory, limit=10_000)
    assert pushed == [("调拨已批准", True)]


def test_a_binding_notice_is_sent_with_no_write_transaction_open(session_factory, demo, probe):
    """The account-security notice to a member's other accounts (workflows.bindings) goes out after
    the relay's transaction too, and its notification is marked sent only then."""
    director = demo.members["钱总监"]
    with session_factory.begin() as s:
        emit(s, demo.org_id, "member.identity_bound", {"member_id": director, "provider": "wechat_openid",
                                                       "identity_id": -1, "external_hint": "o-…1234"})
    relay_pending(session_factory, limit=10_000)
    cards = [c for c in probe.calls if c[0] == "card"]
    assert cards and all(free for _w, _t, free in cards)
    with session_factory() as s:
        notes = list(s.scalars(select(Notification).where(Notification.org_id == demo.org_id,
                                                          Notification.kind == "member.identity_bound")))
    assert notes and all(n.sent_at is not None for n in notes)
    assert [(r.status, r.attempts) for r in _runs(session_factory, demo.org_id, "bindings.tell_member")] == [
        (RunStatus.DONE, 1)]
