"""Exactly-once operations: a replayed key returns the first answer; a changed body is a conflict."""

from __future__ import annotations

import threading
import uuid
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from models.demo import seed_demo
from models.documents import Document
from models.errors import IdempotencyConflict, PermissionDenied, UnknownUnit
from models.finance import FarmerSettlement, Voucher
from models.idempotency import request_hash
from models.infra import IdempotencyRecord, OutboxEvent
from models.operations import (
    DecideTransfer,
    ReceiveGoods,
    RequestTransfer,
    ShipGoods,
    TransferLineIn,
    decide_transfer,
    receive_goods,
    request_transfer,
    ship_goods,
)
from models.queries import stock_level
from models.stock import StockMove
from models.uow import run
from tests.factories import assert_books_ok


def _cmd(demo, qty="23.5", unit="斤", **kw):
    return ReceiveGoods(site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=D(qty), unit=unit,
                        party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"], **kw)


def _counts(sf, org_id):
    with sf() as s:
        def n(model):
            return s.scalar(select(func.count()).select_from(model).where(model.org_id == org_id))
        return {"documents": n(Document), "moves": n(StockMove), "vouchers": n(Voucher),
                "events": n(OutboxEvent), "settlements": n(FarmerSettlement), "records": n(IdempotencyRecord)}


def _on_hand(sf, demo):
    with sf() as s:
        return stock_level(s, demo.org_id, demo.items["茶青"], demo.sites["SX"]).on_hand


def test_replay_returns_the_first_answer_and_writes_nothing(session_factory, demo, actors):
    sf = session_factory
    first = run(sf, receive_goods, actors["小周"], _cmd(demo, "23.5"), idempotency_key="msg-1")
    after_first = _counts(sf, demo.org_id)
    assert after_first["documents"] == after_first["moves"] == after_first["records"] == 1
    again = run(sf, receive_goods, actors["小周"], _cmd(demo, "23.50"), idempotency_key="msg-1")
    assert again == first  # the whole result, business time included
    assert (again.document_id, again.number, again.total) == (first.document_id, first.number, D(940))
    assert _counts(sf, demo.org_id) == after_first
    assert _on_hand(sf, demo) == D("11.75")
    with sf() as s:
        record = s.scalars(select(IdempotencyRecord).where(IdempotencyRecord.org_id == demo.org_id)).one()
    assert (record.key, record.operation) == ("msg-1", "receive")
    assert record.request_hash == request_hash("receive", _cmd(demo, "23.500"))
    assert_books_ok(sf, demo.org_id)


def test_without_a_key_every_call_posts(session_factory, demo, actors):
    sf = session_factory
    a = run(sf, receive_goods, actors["小周"], _cmd(demo))
    b = run(sf, receive_goods, actors["小周"], _cmd(demo))
    assert a.document_id != b.document_id and _on_hand(sf, demo) == D("23.5")
    assert _counts(sf, demo.org_id)["records"] == 0
    assert_books_ok(sf, demo.org_id)


def test_same_key_different_body_is_a_conflict(session_factory, demo, actors):
    sf = session_factory
    run(sf, receive_goods, actors["小周"], _cmd(demo, "23.5"), idempotency_key="msg-2")
    before = _counts(sf, demo.org_id)
    with pytest.raises(IdempotencyConflict) as err:
        run(sf, receive_goods, actors["小周"], _cmd(demo, "24"), idempotency_key="msg-2")
    assert err.value.code == "IDEMPOTENCY_CONFLICT" and err.value.http_status == 409
    assert err.value.details == {"key": "msg-2", "operation": "receive"}
    with pytest.raises(IdempotencyConflict):  # same key for another operation
        run(sf, ship_goods, actors["小周"], ShipGoods(demo.sites["SX"], demo.items["茶青"], D(1)),
            idempotency_key="msg-2")
    assert _counts(sf, demo.org_id) == before
    assert _on_hand(sf, demo) == D("11.75")
    assert_books_ok(sf, demo.org_id)


def test_keys_are_per_organisation(session_factory, demo, actors):
    sf = session_factory
    other = run(sf, seed_demo, f"t-{uuid.uuid4().hex[:12]}")
    from models.actor import Actor
    ours = run(sf, receive_goods, actors["小周"], _cmd(demo), idempotency_key="shared-key")
    theirs = run(sf, receive_goods, Actor.system_actor(other.org_id), _cmd(other), idempotency_key="shared-key")
    assert ours.document_id != theirs.document_id
    assert _counts(sf, demo.org_id)["documents"] == _counts(sf, other.org_id)["documents"] == 1
    with sf() as s:
        assert stock_level(s, other.org_id, other.items["茶青"], other.sites["SX"]).on_hand == D("11.75")
    assert _on_hand(sf, demo) == D("11.75")
    assert_books_ok(sf, demo.org_id)
    assert_books_ok(sf, other.org_id)


def test_a_failed_operation_leaves_no_record_so_a_corrected_retry_works(session_factory, demo, actors):
    sf = session_factory
    before = _counts(sf, demo.org_id)
    with pytest.raises(UnknownUnit):
        run(sf, receive_goods, actors["小周"], _cmd(demo, unit="箩"), idempotency_key="msg-3")
    assert _counts(sf, demo.org_id) == before  # no record, no document
    fixed = run(sf, receive_goods, actors["小周"], _cmd(demo, unit="斤"), idempotency_key="msg-3")
    assert fixed.quantity == D("11.75")
    assert run(sf, receive_goods, actors["小周"], _cmd(demo, unit="斤"), idempotency_key="msg-3") == fixed
    assert _counts(sf, demo.org_id)["documents"] == 1
    assert_books_ok(sf, demo.org_id)


def test_client_minted_move_id_can_be_replayed(session_factory, demo, actors):
    """An offline phone sends its own move UUID and an idempotency key: the command must hash."""
    sf = session_factory
    move_id = uuid.uuid4()
    first = run(sf, receive_goods, actors["小周"], _cmd(demo, move_id=move_id), idempotency_key=str(move_id))
    again = run(sf, receive_goods, actors["小周"], _cmd(demo, move_id=move_id), idempotency_key=str(move_id))
    assert again == first
    with sf() as s:
        [move] = s.scalars(select(StockMove).where(StockMove.org_id == demo.org_id)).all()
    assert move.id == move_id
    with pytest.raises(IdempotencyConflict):
        run(sf, receive_goods, actors["小周"], _cmd(demo, move_id=uuid.uuid4()), idempotency_key=str(move_id))
    assert_books_ok(sf, demo.org_id)


def test_replayed_approval_returns_the_first_decision(session_factory, demo, actors):
    """A card callback delivered twice must not turn into "already approved"."""
    sf = session_factory
    t = run(sf, request_transfer, actors["小周"], RequestTransfer(
        demo.sites["SX"], demo.sites["ZC"], (TransferLineIn(demo.items["茶青"], D(1)),)), idempotency_key="req-1")
    first = run(sf, decide_transfer, actors["赵经理"], DecideTransfer(t.document_id, True), idempotency_key="card-1")
    again = run(sf, decide_transfer, actors["赵经理"], DecideTransfer(t.document_id, True), idempotency_key="card-1")
    assert again == first and again.status == "approved"
    with sf() as s:
        kinds = list(s.scalars(select(OutboxEvent.kind).where(
            OutboxEvent.document_id == t.document_id, OutboxEvent.kind.like("transfer.%"))))
    assert sorted(kinds) == ["transfer.approved", "transfer.requested"]
    assert_books_ok(sf, demo.org_id)


def test_concurrent_requests_with_one_key_post_once(session_factory, demo, actors):
    sf = session_factory
    barrier = threading.Barrier(4)
    results, errors = [], []

    def worker() -> None:
        try:
            barrier.wait()
            results.append(run(sf, receive_goods, actors["小周"], _cmd(demo), idempotency_key="race-1", attempts=5))
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert errors == []
    assert len(results) == 4 and len({r.document_id for r in results}) == 1
    assert _counts(sf, demo.org_id)["documents"] == 1
    assert _on_hand(sf, demo) == D("11.75")
    assert_books_ok(sf, demo.org_id)


def test_keys_are_per_member_and_a_replay_answers_only_its_sender(session_factory, demo, actors):
    """Issue 10 finding 15: another member's key is a new key for me, checked with my permissions."""
    sf = session_factory
    clerk = run(sf, receive_goods, actors["小周"], _cmd(demo), idempotency_key="k-1")
    manager = run(sf, receive_goods, actors["赵经理"], _cmd(demo), idempotency_key="k-1")
    assert manager.document_id != clerk.document_id
    assert run(sf, receive_goods, actors["小周"], _cmd(demo), idempotency_key="k-1") == clerk
    before = _counts(sf, demo.org_id)
    with pytest.raises(PermissionDenied):  # the farmer's own request, refused: never the clerk's receipt
        run(sf, receive_goods, actors["王阿姨"], _cmd(demo), idempotency_key="k-1")
    assert _counts(sf, demo.org_id) == before
    system = run(sf, receive_goods, actors["系统"], _cmd(demo), idempotency_key="k-1")
    with sf() as s:
        scopes = sorted(s.scalars(select(IdempotencyRecord.member_id).where(
            IdempotencyRecord.org_id == demo.org_id, IdempotencyRecord.key == "k-1")))
    assert scopes == sorted([0, demo.members["小周"], demo.members["赵经理"]])
    assert len({clerk.document_id, manager.document_id, system.document_id}) == 3
    assert_books_ok(sf, demo.org_id)


def test_a_shared_key_replays_across_members(session_factory, demo, actors):
    """Keys naming a thing (a draft being confirmed) live in the shared scope: it posts once."""
    sf = session_factory
    first = run(sf, receive_goods, actors["小周"], _cmd(demo), idempotency_key="intake:x", shared_key=True)
    again = run(sf, receive_goods, actors["赵经理"], _cmd(demo), idempotency_key="intake:x", shared_key=True)
    assert again == first and _counts(sf, demo.org_id)["documents"] == 1
