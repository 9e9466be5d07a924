"""Attack replays against receipts committed together (models.group_commit): sharing a transaction
must not let one request borrow another's permission, answer, idempotency key or organisation."""

from __future__ import annotations

import uuid
from decimal import Decimal as D

from sqlalchemy import select

from models.actor import load_actor
from models.demo import seed_demo
from models.documents import Document
from models.errors import PriceOverrideDenied
from models.operations import receive_goods
from models.uow import run
from tests.factories import assert_books_ok
from tests.models.test_group_commit import _lead, _receipt


def test_a_clerk_grouped_with_a_director_does_not_borrow_the_directors_price_right(session_factory, demo, actors):
    """The clerk's price override rides in the same group as the director's: refused on its own
    actor, and nothing of it written; the director's stands."""
    clerk, director = actors["小周"], actors["钱总监"]
    calls = [(receive_goods, (director, _receipt(demo, qty="10", unit_price=D("60"), price_reason="头茬"))),
             (receive_goods, (clerk, _receipt(demo, qty="10", unit_price=D("60"), price_reason="头茬")))]
    requests = _lead(session_factory, calls)

    assert requests[0].outcome().unit_price == D("60")
    assert isinstance(requests[1].error, PriceOverrideDenied) and requests[1].error.code == "PRICE_OVERRIDE_DENIED"
    with session_factory() as s:  # 5 公斤 at 60: only the director's
        assert s.scalars(select(Document.created_by).where(
            Document.org_id == demo.org_id, Document.total_amount == D(300))).all() == [director.member_id]
    assert_books_ok(session_factory, demo.org_id)


def test_another_members_key_in_the_same_group_gets_no_replay_of_the_first_answer(session_factory, demo, actors):
    """Member B sends member A's idempotency key while A's receipt is in the same group: B's key is
    B's own (a new receipt of B's, never A's answer)."""
    key = f"wx-{uuid.uuid4().hex}"
    calls = [(receive_goods, (actors["小周"], _receipt(demo, qty="10"))),
             (receive_goods, (actors["钱总监"], _receipt(demo, qty="10")))]
    requests = _lead(session_factory, calls, kwargs=[{"idempotency_key": key}, {"idempotency_key": key}])

    a, b = requests[0].outcome(), requests[1].outcome()
    assert a.document_id != b.document_id
    with session_factory() as s:
        assert s.get(Document, a.document_id).created_by == actors["小周"].member_id
        assert s.get(Document, b.document_id).created_by == actors["钱总监"].member_id
    # Each replays only to its sender.
    assert run(session_factory, receive_goods, actors["钱总监"], _receipt(demo, qty="10"),
               idempotency_key=key).document_id == b.document_id
    assert_books_ok(session_factory, demo.org_id)


def test_another_orgs_receipt_never_shares_the_transaction(session_factory, demo, actors):
    """Two orgs' receipts queued together: two groups, each with its own org's rows only."""
    other = run(session_factory, seed_demo, f"t-{uuid.uuid4().hex[:12]}")
    with session_factory() as s:
        intruder = load_actor(s, other.members["小周"])
    # The intruder names the victim org's site and item in his own request.
    victim_ids = _receipt(demo)
    requests = _lead(session_factory, [(receive_goods, (actors["小周"], _receipt(demo))),
                                       (receive_goods, (intruder, victim_ids))])

    assert requests[0].outcome().document_id
    assert requests[1].error is not None and getattr(requests[1].error, "code", "") == "NOT_FOUND"
    assert_books_ok(session_factory, demo.org_id)
    assert_books_ok(session_factory, other.org_id)
