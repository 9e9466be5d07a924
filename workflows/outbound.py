"""A handler's outbound messages (DingTalk cards, WeChat subscribe messages) sent after its transaction.

A handler made with :func:`deferred` runs as a relay :class:`~workflows.relay.NetworkHandler`: in the
lease transaction it records its notifications (pending: ``sent_at`` is NULL) and collects what to send
in a :class:`Batch`; the messenger is called with no transaction open; a short transaction then runs
the bookkeeping that follows the sends (``Batch.then``) and marks the notifications sent. A failed send
leaves them pending, so the relay's retry (backoff, dead letter) re-runs the handler, which finds its
pending notifications again and sends them again (at least once, as before: cards keep their
outTrackId, so a resent card is updated in place).

Outside a deferred handler (a plain handler, a direct call) :func:`outbound` sends at once in the
caller's transaction, as every handler used to.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from models.base import utcnow
from models.event_log import Notification
from models.infra import OutboxEvent
from workflows.messenger import get_messenger
from workflows.relay import NetworkHandler

_KEY = "liuzhuan_outbound_batch"

#: Bookkeeping that must follow the sends (e.g. the approval to-do after its card): ``fn(session, event)``.
Then = Callable[[Session, OutboxEvent], None]


@dataclass
class Batch:
    """Messenger calls and the notifications they deliver, collected in a transaction, sent after it.

    It holds plain values only (ids, strings): it crosses from the preparing session to the finishing one.
    """

    sends: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    note_ids: list[int] = field(default_factory=list)
    then: list[Then] = field(default_factory=list)

    def send_card(self, track_id: str, user_ids: list[str], params: dict[str, str]) -> None:
        self.sends.append(("send_card", (track_id, list(user_ids), dict(params))))

    def update_card(self, track_id: str, params: dict[str, str]) -> None:
        self.sends.append(("update_card", (track_id, dict(params))))

    def send_subscribe(self, openid: str, message: dict[str, Any]) -> None:
        self.sends.append(("send_subscribe", (openid, message)))

    def deliver(self, note: Notification) -> None:
        """Mark ``note`` sent once every send of the batch went out."""
        self.note_ids.append(note.id)

    def after(self, fn: Then) -> None:
        """Run ``fn(session, event)`` once the sends went out (in the finishing transaction)."""
        self.then.append(fn)


def send(batch: Batch) -> Batch:
    """Make the batch's messenger calls (no database session); raise on the first failure."""
    messenger = get_messenger()
    for method, args in batch.sends:
        getattr(messenger, method)(*args)
    return batch


def settle(session: Session, event: OutboxEvent, batch: Batch) -> None:
    """Run the follow-up bookkeeping and mark the delivered notifications sent."""
    for fn in batch.then:
        fn(session, event)
    if batch.note_ids:
        session.execute(update(Notification).where(Notification.id.in_(batch.note_ids),
                                                   Notification.sent_at.is_(None))
                        .values(sent_at=utcnow()).execution_options(synchronize_session=False))


@contextmanager
def outbound(session: Session, event: OutboxEvent) -> Iterator[Batch]:
    """Yield where to put messages: the deferred handler's batch, or one sent when the block ends."""
    batch = session.info.get(_KEY)
    if isinstance(batch, Batch):
        yield batch
        return
    batch = Batch()
    yield batch
    # Not deferred (a plain handler such as rules.evaluate, or a direct call): send now, in the
    # caller's transaction, as before.
    send(batch)
    settle(session, event, batch)


def deferred(fn: Callable[[Session, OutboxEvent], None]) -> NetworkHandler:
    """Make ``fn`` a relay network handler whose messages go out with no transaction open."""

    def prepare(session: Session, event: OutboxEvent) -> Batch | None:
        batch = Batch()
        session.info[_KEY] = batch
        try:
            fn(session, event)
        finally:
            session.info.pop(_KEY, None)
        if not batch.sends:  # nothing to send: finish here, no second transaction
            settle(session, event, batch)
            return None
        return batch

    return NetworkHandler(prepare=prepare, call=send, finish=settle)
