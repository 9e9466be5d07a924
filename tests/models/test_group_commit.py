"""Receipts that arrive together commit together (models.group_commit), and each still stands alone:
its own answer or error, nothing of a refused one written, no number lost, another's failure never
its own."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from models import group_commit
from models.actor import load_actor
from models.base import utcnow
from models.demo import seed_demo
from models.documents import DocKind, Document
from models.errors import DataConflict, NotFound, PriceOverrideDenied, StockFrozen, ValidationError
from models.finance import Voucher
from models.operations import FreezeStock, ReceiveGoods, ShipGoods, freeze_stock, receive_goods, ship_goods
from models.posting_writer import table_of, writer_for
from models.stock import FreezeDirection, StockMove
from models.uow import run, run_alone
from tests.factories import assert_books_ok


@pytest.fixture
def commits() -> Iterator[list[int]]:
    """Commits of any session while the test runs."""
    seen: list[int] = []

    def count(session: Session) -> None:
        if session.in_nested_transaction():  # a savepoint released is not a commit
            return
        seen.append(1)

    event.listen(Session, "after_commit", count)
    yield seen
    event.remove(Session, "after_commit", count)


def _receipt(demo: Any, qty: str = "23.5", **kw: Any) -> ReceiveGoods:
    return ReceiveGoods(demo.sites["SX"], demo.items["茶青"], D(qty), "斤", party_id=demo.parties["王阿姨"],
                        grade_id=demo.grades["一级"], **kw)


def _lead(session_factory: Any, calls: list[tuple[Any, tuple[Any, ...]]],
          kwargs: list[dict[str, Any]] | None = None) -> list[group_commit._Request]:
    """Queue ``calls`` as if they had arrived together, and let the first lead (deterministic: no threads)."""
    combiner = group_commit._Combiner()
    requests = [group_commit._Request(fn, args, (kwargs or [{}] * len(calls))[n], args[0].org_id)
                for n, (fn, args) in enumerate(calls)]
    combiner._queue.extend(requests)
    combiner._leading = True
    leader: group_commit._Request | None = requests[0]
    while leader is not None:
        combiner._lead(session_factory, run_alone, leader)
        # The lead passes to the oldest waiter: here no thread waits, so lead as it would.
        leader = next((r for r in requests if r.lead and not r.answered), None)
    assert all(r.answered for r in requests) and not combiner._leading
    return requests


def _numbers(session_factory: Any, org_id: int) -> tuple[set[str], set[str]]:
    """The org's receipt and voucher numbers."""
    with session_factory() as s:
        docs = set(s.scalars(select(Document.number).where(Document.org_id == org_id,
                                                           Document.kind == DocKind.RECEIPT)))
        vouchers = set(s.scalars(select(Voucher.number).where(Voucher.org_id == org_id)))
    return docs, vouchers


def _no_gap(before: set[str], after: set[str], count: int) -> bool:
    """``count`` new numbers, following on from the last one before them in their series."""
    new = after - before
    if len(new) != count:
        return False
    series = {n.rsplit("-", 1)[0] for n in new}
    if len(series) != 1:
        return False
    prefix = series.pop()
    tails = sorted(int(n.rsplit("-", 1)[1]) for n in new)
    last = max((int(n.rsplit("-", 1)[1]) for n in before if n.rsplit("-", 1)[0] == prefix), default=0)
    return tails == list(range(last + 1, last + 1 + count))


def test_only_receipts_of_a_new_lot_without_an_order_are_groupable(demo, actors):
    clerk = actors["小周"]
    assert group_commit.wanted(receive_goods, (clerk, _receipt(demo)), {})
    assert group_commit.wanted(receive_goods, (clerk, _receipt(demo)), {"idempotency_key": "k"})
    # An existing lot's balance is locked FOR UPDATE, an order's row through the ORM: not grouped.
    assert not group_commit.wanted(receive_goods, (clerk, _receipt(demo, lot_code="L-1")), {})
    assert not group_commit.wanted(receive_goods, (clerk, _receipt(demo, purchase_order_id=1)), {})
    assert not group_commit.wanted(run_alone, (clerk,), {})


def test_receipts_queued_together_commit_once_with_their_own_answers(session_factory, demo, actors, commits):
    before_docs, before_vouchers = _numbers(session_factory, demo.org_id)
    clerk, director = actors["小周"], actors["钱总监"]
    calls = [(receive_goods, (clerk if i % 2 else director, _receipt(demo, qty=str(10 + i)))) for i in range(6)]
    requests = _lead(session_factory, calls)

    assert len(commits) == 1
    receipts = [r.outcome() for r in requests]
    assert [r.quantity for r in receipts] == [D(10 + i) / 2 for i in range(6)]  # 斤 → 公斤, each its own
    docs, vouchers = _numbers(session_factory, demo.org_id)
    assert docs - before_docs == {r.number for r in receipts}
    assert vouchers - before_vouchers == {r.voucher_number for r in receipts}
    assert _no_gap(before_docs, docs, 6) and _no_gap(before_vouchers, vouchers, 6)
    with session_factory() as s:
        for r in receipts:
            assert s.scalar(select(StockMove.quantity).where(StockMove.document_id == r.document_id)) == r.quantity
    assert_books_ok(session_factory, demo.org_id)


def test_a_refused_receipt_in_a_group_writes_nothing_and_takes_no_number(session_factory, demo, actors, commits):
    before_docs, before_vouchers = _numbers(session_factory, demo.org_id)
    clerk = actors["小周"]
    calls = [
        (receive_goods, (clerk, _receipt(demo, qty="10"))),
        # The clerk may not set a farmer's price: refused after the reads, before any number.
        (receive_goods, (clerk, _receipt(demo, qty="11", unit_price=D("99"), price_reason="好茶"))),
        (receive_goods, (clerk, ReceiveGoods(demo.sites["SX"], 999_999_999, D(1), "斤"))),
        (receive_goods, (clerk, _receipt(demo, qty="12"))),
    ]
    requests = _lead(session_factory, calls)

    assert len(commits) == 1  # the refusals did not break the group apart
    assert isinstance(requests[1].error, PriceOverrideDenied)
    assert isinstance(requests[2].error, NotFound)
    good = [requests[0].outcome(), requests[3].outcome()]
    docs, vouchers = _numbers(session_factory, demo.org_id)
    assert docs - before_docs == {r.number for r in good}  # nothing of the refused ones
    assert _no_gap(before_docs, docs, 2) and _no_gap(before_vouchers, vouchers, 2)  # and no number lost
    assert_books_ok(session_factory, demo.org_id)


@group_commit.groupable(lambda *_a, **_k: True)
def _refused_after_queuing(session: Session, actor: Any, cmd: ReceiveGoods) -> Any:
    """A receipt whose rows are queued and numbers taken, then refused (as a late check would)."""
    receive_goods.__wrapped__(session, actor, cmd)
    raise ValidationError("晚到的检查拒绝了这张单", field="quantity")



def test_a_receipt_refused_after_queuing_hands_back_its_rows_and_numbers(session_factory, engine, demo, actors,
                                                                         commits):
    before_docs, before_vouchers = _numbers(session_factory, demo.org_id)
    clerk = actors["小周"]
    calls = [(receive_goods, (clerk, _receipt(demo, qty="10"))),
             (_refused_after_queuing, (clerk, _receipt(demo, qty="11"))),
             (receive_goods, (clerk, _receipt(demo, qty="12")))]
    requests = _lead(session_factory, calls)

    # PostgreSQL's numbers come from blocks held in this process: handed back, the group goes on.
    # SQLite bumps its counters in the transaction: a write, so the group runs apart (two commits).
    assert len(commits) == (1 if engine.dialect.name == "postgresql" else 2)
    assert isinstance(requests[1].error, ValidationError)
    good = [requests[0].outcome(), requests[2].outcome()]
    docs, vouchers = _numbers(session_factory, demo.org_id)
    assert docs - before_docs == {r.number for r in good}
    # The third took the numbers the second handed back.
    assert _no_gap(before_docs, docs, 2) and _no_gap(before_vouchers, vouchers, 2)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(StockMove).where(
            StockMove.org_id == demo.org_id, StockMove.quantity == D("5.5"))) == 0
    assert_books_ok(session_factory, demo.org_id)


@group_commit.groupable(lambda *_a, **_k: True)
def _broken_after_writing(session: Session, actor: Any, cmd: ReceiveGoods) -> Any:
    """A receipt followed by a row that breaks a foreign key when the group commits."""
    receipt = receive_goods(session, actor, cmd)
    if cmd.note == "broken":
        writer_for(session).insert(table_of(StockMove), org_id=actor.org_id, item_id=cmd.item_id, site_id=cmd.site_id,
                                   lot_id=receipt.lot_id, document_id=2_000_000_000, quantity=D(1), unit_cost=D(0),
                                   value=D(0), business_time=utcnow())
    return receipt



@group_commit.groupable(lambda *_a, **_k: True)
def _bug(session: Session, actor: Any, cmd: ReceiveGoods) -> Any:
    receive_goods(session, actor, cmd)
    raise RuntimeError("a bug after the rows were queued")



def test_a_group_that_cannot_commit_runs_each_request_alone(session_factory, demo, actors, commits):
    before_docs, before_vouchers = _numbers(session_factory, demo.org_id)
    clerk = actors["小周"]
    calls = [
        (_broken_after_writing, (clerk, _receipt(demo, qty="10"))),
        (_broken_after_writing, (clerk, _receipt(demo, qty="11", note="broken"))),
        (_bug, (clerk, _receipt(demo, qty="12"))),
        (receive_goods, (clerk, _receipt(demo, qty="13"))),
    ]
    requests = _lead(session_factory, calls)

    assert isinstance(requests[1].error, DataConflict)  # its own constraint, answered as run answers it
    assert isinstance(requests[2].error, RuntimeError)
    good = [requests[0].outcome(), requests[3].outcome()]
    assert len(commits) == 2  # the group rolled back; the two good ones committed alone
    docs, vouchers = _numbers(session_factory, demo.org_id)
    assert docs - before_docs == {r.number for r in good}
    assert _no_gap(before_docs, docs, 2) and _no_gap(before_vouchers, vouchers, 2)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(StockMove).where(StockMove.document_id == 2_000_000_000)) == 0
    assert_books_ok(session_factory, demo.org_id)


def test_each_org_commits_in_a_group_of_its_own(session_factory, demo, actors, commits):
    other = run(session_factory, seed_demo, f"t-{uuid.uuid4().hex[:12]}")
    with session_factory() as s:
        other_clerk = load_actor(s, other.members["小周"])
    commits.clear()
    clerk = actors["小周"]
    calls = [(receive_goods, (clerk, _receipt(demo))), (receive_goods, (other_clerk, _receipt(other))),
             (receive_goods, (clerk, _receipt(demo))), (receive_goods, (other_clerk, _receipt(other)))]
    requests = _lead(session_factory, calls)

    assert len(commits) == 2
    with session_factory() as s:
        for request, org_id in zip(requests, [demo.org_id, other.org_id] * 2, strict=True):
            doc = s.get(Document, request.outcome().document_id)
            assert doc is not None and doc.org_id == org_id
    assert_books_ok(session_factory, demo.org_id)
    assert_books_ok(session_factory, other.org_id)


def test_concurrent_receipts_each_get_their_own_committed_answer(session_factory, demo, actors):
    """Sixteen clerks at once, through run: whatever groups form, every receipt is there once."""
    before_docs, before_vouchers = _numbers(session_factory, demo.org_id)
    clerk = actors["小周"]
    answers: list[Any] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    barrier = threading.Barrier(16)

    def clerk_at_work(i: int) -> None:
        try:
            barrier.wait(30)
            for n in range(5):
                receipt = run(session_factory, receive_goods, clerk, _receipt(demo, qty=f"{i}.{n}1"))
                with lock:
                    answers.append((f"{i}.{n}1", receipt))
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    threads = [threading.Thread(target=clerk_at_work, args=(i,), daemon=True) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(answers) == 80
    assert all(r.entered_quantity == D(q) for q, r in answers)
    with session_factory() as s:
        for q, r in answers:
            assert s.scalar(select(Document.total_amount).where(Document.id == r.document_id)) == r.total, q
    docs, vouchers = _numbers(session_factory, demo.org_id)
    assert docs - before_docs == {r.number for _q, r in answers}
    assert _no_gap(before_docs, docs, 80) and _no_gap(before_vouchers, vouchers, 80)
    assert_books_ok(session_factory, demo.org_id)


def test_phones_syncing_receipts_at_once_commit_together_entry_by_entry(session_factory, demo, actors, commits):
    """Two phones' sync batches (models.operations.batch) in one group: each entry keeps its own
    savepoint and outcome — a refusal, a replay — and the group commits once."""
    from models.operations.batch import BatchOp, _apply_all, apply_batch

    clerk, director = actors["小周"], actors["钱总监"]
    replayed = BatchOp(f"k-{uuid.uuid4().hex}", receive_goods, _receipt(demo, qty="7"))
    first = apply_batch(session_factory, clerk, [replayed])[0]
    shipment = ShipGoods(demo.sites["SX"], demo.items["茶青"], D(1), "斤", unit_price=D(100),
                         party_id=demo.parties["杭州茶城"])
    # A batch holding a shipment (it locks balances) keeps a transaction of its own.
    assert not group_commit.wanted(_apply_all, (clerk, [replayed, BatchOp("s", ship_goods, shipment)]), {})
    phone_a = [replayed, BatchOp(f"k-{uuid.uuid4().hex}", receive_goods, _receipt(demo, qty="8")),
               BatchOp(f"k-{uuid.uuid4().hex}", receive_goods,
                       _receipt(demo, qty="9", unit_price=D("99"), price_reason="好茶"))]
    phone_b = [BatchOp(f"k-{uuid.uuid4().hex}", receive_goods, _receipt(demo, qty="10"))]
    assert group_commit.wanted(_apply_all, (clerk, phone_a), {})
    commits.clear()
    requests = _lead(session_factory, [(_apply_all, (clerk, phone_a)), (_apply_all, (director, phone_b))])

    assert len(commits) == 1
    a, b = requests[0].outcome(), requests[1].outcome()
    assert [o.status for o in a] == ["already_applied", "applied", "conflict"] and [o.status for o in b] == ["applied"]
    assert a[0].result == first.result and isinstance(a[2].error, PriceOverrideDenied)
    with session_factory() as s:
        for outcome in (a[1], b[0]):
            assert s.get(Document, outcome.result.document_id) is not None
    assert_books_ok(session_factory, demo.org_id)


def test_a_group_reads_every_receipts_facts_in_one_round_trip(session_factory, engine, demo, actors, monkeypatch):
    """On PostgreSQL the group runs each receipt's up-front reads (freezes, new ids) and the version
    together before the first receipt runs; each receipt then gets its own facts."""
    from models.posting_writer import PostingWriter

    fetches: list[int] = []
    real_fetch = PostingWriter.fetch

    def counting_fetch(self: PostingWriter, reads: Any) -> Any:
        fetches.append(len(reads))
        return real_fetch(self, reads)

    monkeypatch.setattr(PostingWriter, "fetch", counting_fetch)
    clerk = actors["小周"]
    frozen_site = demo.sites["ZC"]  # a freeze at one site must reach that receipt alone
    run(session_factory, freeze_stock, actors["钱总监"], FreezeStock(
        item_id=demo.items["茶青"], direction=FreezeDirection.INBOUND, reason="抽检", site_id=frozen_site))
    fetches.clear()
    at_zc = ReceiveGoods(frozen_site, demo.items["茶青"], D(5), "斤", party_id=demo.parties["王阿姨"],
                         grade_id=demo.grades["一级"])
    calls = [(receive_goods, (clerk, _receipt(demo, qty=str(q)))) for q in (3, 4)]
    calls.insert(1, (receive_goods, (actors["钱总监"], at_zc)))
    requests = _lead(session_factory, calls)

    assert isinstance(requests[1].error, StockFrozen)
    ids = {requests[0].outcome().document_id, requests[2].outcome().document_id}
    assert len(ids) == 2
    if engine.dialect.name == "postgresql":
        assert fetches == [3 * 2]  # 2 reads per receipt (the version rides on the last one's ids)
    else:
        assert len(fetches) >= 3  # SQLite has no round trips to save: each receipt reads for itself
    assert_books_ok(session_factory, demo.org_id)


def test_the_registry_lets_a_session_factory_and_its_engine_go(engine, demo, actors):
    """A combiner keeps no reference to its factory: an engine a test or a tool made and dropped is
    collected, and its pooled connections are closed (else a long test run runs out of them)."""
    import gc
    import weakref

    from models.db import make_engine, make_session_factory

    own_engine = make_engine(engine.url.render_as_string(hide_password=False))
    factory = make_session_factory(own_engine)
    run(factory, receive_goods, actors["小周"], _receipt(demo))
    assert factory in group_commit._combiners
    gone = weakref.ref(factory)
    del factory, own_engine
    gc.collect()
    assert gone() is None
