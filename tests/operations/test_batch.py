"""apply_batch: one transaction for a queue, one savepoint per entry; replays answered up front, in order."""

from __future__ import annotations

import uuid
from decimal import Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from models.actor import Actor
from models.documents import Document
from models.errors import DataConflict, IdempotencyConflict, InsufficientStock
from models.idempotency import idempotent, key_scope
from models.infra import IdempotencyRecord
from models.operations import (
    BatchOp,
    CreateItem,
    Receipt,
    ReceiveGoods,
    ShipGoods,
    apply_batch,
    create_item,
    receive_goods,
    ship_goods,
)
from models.stock import Balance, StockMove


@idempotent("test.create_item")
def create_item_once(session: Session, actor: Actor, cmd: CreateItem) -> int:
    """An operation whose duplicate code breaks a unique constraint no retry cures (items' org/code)."""
    return create_item(session, actor, cmd)


#: Calls of ``claim_twice_once`` that should still break; reset by the test that uses it.
_RACES_LEFT: list[str] = []


@idempotent("test.claim_twice")
def claim_twice_once(session: Session, actor: Actor, cmd: CreateItem) -> int:
    """Break the idempotency claim constraint once, as a concurrent request with the same key would."""
    if _RACES_LEFT:
        key = _RACES_LEFT.pop()
        session.add(IdempotencyRecord(org_id=actor.org_id, member_id=key_scope(actor), key=key,
                                      operation="test.claim_twice", request_hash="0" * 64))
        session.flush()
    return create_item(session, actor, cmd)


def _receive(demo, qty: str = "10") -> ReceiveGoods:
    return ReceiveGoods(site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal(qty), unit="斤",
                        party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"])


def _key() -> str:
    return str(uuid.uuid4())


def _stock(session_factory, demo) -> tuple[Decimal, int, int]:
    """(on hand of 茶青 at 绍兴, stock moves, documents) of the demo org."""
    with session_factory() as s:
        on_hand = s.scalar(select(func.coalesce(func.sum(Balance.on_hand), 0)).where(
            Balance.org_id == demo.org_id, Balance.item_id == demo.items["茶青"], Balance.site_id == demo.sites["SX"]))
        moves = s.scalar(select(func.count()).select_from(StockMove).where(StockMove.org_id == demo.org_id))
        docs = s.scalar(select(func.count()).select_from(Document).where(Document.org_id == demo.org_id))
    return Decimal(on_hand), moves, docs


def test_a_failed_entry_rolls_back_alone_and_a_replay_gets_the_first_answer(session_factory, demo, actors):
    manager = actors["赵经理"]
    first = _key()
    before = _stock(session_factory, demo)
    out = apply_batch(session_factory, manager, [
        BatchOp(first, receive_goods, _receive(demo, "10")),
        BatchOp(_key(), ship_goods, ShipGoods(site_id=demo.sites["SX"], item_id=demo.items["茶青"],
                                              quantity=Decimal(100000), party_id=demo.parties["杭州茶城"])),
        BatchOp(_key(), receive_goods, _receive(demo, "6")),
        BatchOp(first, receive_goods, _receive(demo, "10")),  # the same entry queued twice
    ])
    assert [o.status for o in out] == ["applied", "conflict", "applied", "already_applied"]
    assert isinstance(out[1].error, InsufficientStock)
    assert isinstance(out[3].result, Receipt) and out[3].result == out[0].result
    on_hand, moves, docs = _stock(session_factory, demo)
    assert on_hand - before[0] == out[0].result.quantity + out[2].result.quantity == Decimal(8)  # 16 斤
    assert (moves - before[1], docs - before[2]) == (2, 2)  # nothing of the oversold shipment

    again = apply_batch(session_factory, manager, [BatchOp(first, receive_goods, _receive(demo, "10"))])
    assert again[0].status == "already_applied" and again[0].result == out[0].result
    assert _stock(session_factory, demo) == (on_hand, moves, docs)


def test_a_key_sent_again_with_another_body_is_a_conflict(session_factory, demo, actors):
    manager, key = actors["赵经理"], _key()
    assert apply_batch(session_factory, manager, [BatchOp(key, receive_goods, _receive(demo, "10"))])[0].status \
        == "applied"
    after = _stock(session_factory, demo)
    out = apply_batch(session_factory, manager, [
        BatchOp(key, receive_goods, _receive(demo, "11")),
        BatchOp(key, receive_goods, _receive(demo, "10")),
    ])
    assert [o.status for o in out] == ["conflict", "already_applied"]
    assert isinstance(out[0].error, IdempotencyConflict)
    # Within one batch too: the second entry differs from the first, which this batch applied.
    fresh = _key()
    out = apply_batch(session_factory, manager, [
        BatchOp(fresh, receive_goods, _receive(demo, "4")),
        BatchOp(fresh, receive_goods, _receive(demo, "5")),
    ])
    assert [o.status for o in out] == ["applied", "conflict"]
    assert isinstance(out[1].error, IdempotencyConflict)
    assert _stock(session_factory, demo)[0] - after[0] == Decimal(2)


def test_a_key_another_member_used_is_a_conflict(session_factory, demo, actors):
    key = _key()
    assert apply_batch(session_factory, actors["小周"], [BatchOp(key, receive_goods, _receive(demo))])[0].status \
        == "applied"
    out = apply_batch(session_factory, actors["赵经理"], [BatchOp(key, receive_goods, _receive(demo))])
    assert out[0].status == "conflict" and isinstance(out[0].error, IdempotencyConflict)
    assert out[0].result is None  # another member's answer is never handed out


def test_a_constraint_error_rolls_back_only_its_own_entry(session_factory, demo, actors):
    manager = actors["赵经理"]
    before = _stock(session_factory, demo)
    out = apply_batch(session_factory, manager, [
        BatchOp(_key(), receive_goods, _receive(demo, "10")),
        BatchOp(_key(), create_item_once, CreateItem(code="CQ", name="又一个茶青", base_unit="公斤")),
        BatchOp(_key(), create_item_once, CreateItem(code="CQ-NEW", name="新茶青", base_unit="公斤")),
    ])
    assert [o.status for o in out] == ["applied", "conflict", "applied"]
    assert isinstance(out[1].error, DataConflict) and out[1].error.details["kind"] == "unique"
    on_hand, moves, docs = _stock(session_factory, demo)
    assert (on_hand - before[0], moves - before[1], docs - before[2]) == (Decimal(5), 1, 1)
    with session_factory() as s:
        claims = s.scalars(select(IdempotencyRecord.operation).where(
            IdempotencyRecord.org_id == demo.org_id, IdempotencyRecord.operation == "test.create_item")).all()
    assert len(claims) == 1  # the failed entry's claim went with its savepoint: the phone may send it again


def test_a_claim_race_retries_the_whole_batch_once(session_factory, demo, actors):
    manager, first = actors["赵经理"], _key()
    before = _stock(session_factory, demo)
    _RACES_LEFT[:] = [first]  # the second entry collides with the first entry's claim, once
    out = apply_batch(session_factory, manager, [
        BatchOp(first, receive_goods, _receive(demo, "10")),
        BatchOp(_key(), claim_twice_once, CreateItem(code="CQ-RACE", name="竞争", base_unit="公斤")),
    ])
    assert not _RACES_LEFT
    assert [o.status for o in out] == ["applied", "applied"]  # the retry ran both again, from nothing
    on_hand, moves, docs = _stock(session_factory, demo)
    assert (on_hand - before[0], moves - before[1], docs - before[2]) == (Decimal(5), 1, 1)
