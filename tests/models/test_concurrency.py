"""Real concurrency: threads, each with its own session through ``models.uow.run``.

SQLite serialises writers (BEGIN IMMEDIATE + busy timeout); PostgreSQL locks balance rows
(SELECT … FOR UPDATE). Either way: no oversell, one document per idempotency key, distinct
gap-free numbers, and no deadlock between opposite transfers.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D
from typing import Any, TypeVar

import pytest
from sqlalchemy import Engine, event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from models.db import make_session_factory, read_only
from models.documents import DocKind, Document
from models.errors import InsufficientStock
from models.finance import Voucher
from models.infra import IdempotencyRecord
from models.operations import (
    CountStock,
    CreateOrder,
    DecideTransfer,
    OrderLineIn,
    ReceiveGoods,
    RequestTransfer,
    ShipGoods,
    TransferLineIn,
    TransferRef,
    count_stock,
    create_order,
    decide_transfer,
    dispatch_transfer,
    receive_goods,
    receive_transfer,
    request_transfer,
    ship_goods,
)
from models.queries import stock_level
from models.stock import Balance, Reservation, StockMove
from models.timeutil import SHANGHAI, period_of
from models.uow import run, run_alone
from tests.factories import assert_books_ok

T = TypeVar("T")

#: How long any one concurrent scenario may take before we call it a hang (or a deadlock).
TIMEOUT = 60.0


def in_threads(count: int, work: Callable[[int], T], *, timeout: float = TIMEOUT) -> list[T]:
    """Start ``work(i)`` on ``count`` threads at once; return their results, re-raise the first error."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[BaseException | None] = [None] * count

    def body(i: int) -> None:
        try:
            barrier.wait(timeout)
            results[i] = work(i)
        except BaseException as exc:  # handed to the test thread below
            errors[i] = exc

    threads = [threading.Thread(target=body, args=(i,), daemon=True, name=f"worker-{i}") for i in range(count)]
    deadline = time.monotonic() + timeout
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    hung = [t.name for t in threads if t.is_alive()]
    assert not hung, f"still running after {timeout}s (deadlock?): {hung}"
    for exc in errors:
        if exc is not None:
            raise exc
    return results


@pytest.fixture
def db_conflicts(engine: Engine) -> Iterator[Counter[str]]:
    """Count the deadlocks, serialization failures and lock timeouts the database reports."""
    seen: Counter[str] = Counter()

    def on_error(context: Any) -> None:
        orig = context.original_exception
        state = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
        if state in ("40P01", "40001", "55P03"):
            seen[state] += 1
        elif isinstance(context.sqlalchemy_exception, IntegrityError):
            seen["unique"] += 1
        elif "locked" in str(orig).lower():
            seen["sqlite-locked"] += 1

    event.listen(engine, "handle_error", on_error)
    yield seen
    event.remove(engine, "handle_error", on_error)


def test_racing_shipments_never_oversell(session_factory, engine, demo, actors, db_conflicts):
    """16 threads × 13 attempts (208) at 40 units in one lot: exactly 40 ship, never below zero."""
    zc, jar = demo.sites["ZC"], demo.items["龙井"]
    stock, threads, per_thread = 40, 16, 13  # 208 attempts for 40 units
    lot = run(session_factory, receive_goods, actors["赵经理"],
              ReceiveGoods(zc, jar, D(stock), unit_price=D(60), party_id=demo.parties["包装厂"],
                           price_reason="合同价")).lot_id
    lowest: list[D] = [D(stock)]
    done = threading.Event()
    readers = make_session_factory(read_only(engine))

    def watch() -> None:  # beside the writers: what anyone could read must never be negative
        while not done.is_set():
            with readers() as s:
                lowest[0] = min(lowest[0], stock_level(s, demo.org_id, jar, zc).on_hand)
            time.sleep(0.002)

    def ship(_: int) -> Counter[str]:
        outcome: Counter[str] = Counter()
        for _ in range(per_thread):
            try:
                run(session_factory, ship_goods, actors["老孙"],
                    ShipGoods(zc, jar, D(1), unit_price=D(168), lot_id=lot, party_id=demo.parties["杭州茶城"]))
                outcome["shipped"] += 1
            except InsufficientStock:
                outcome["short"] += 1
        return outcome

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        totals = sum(in_threads(threads, ship), Counter())
    finally:
        done.set()
        watcher.join(5)
    assert totals == {"shipped": stock, "short": threads * per_thread - stock}
    with session_factory() as s:
        assert stock_level(s, demo.org_id, jar, zc).on_hand == 0
        running, low = D(0), D(0)
        for qty in s.scalars(select(StockMove.quantity).where(StockMove.lot_id == lot, StockMove.site_id == zc)
                             .order_by(StockMove.recorded_at)):
            running += qty
            low = min(low, running)
        numbers = list(s.scalars(select(Document.number).where(
            Document.org_id == demo.org_id, Document.kind == DocKind.SHIPMENT)))
    assert low == 0 and lowest[0] >= 0
    # Refusals happen before a number is taken, so even PostgreSQL leaves no gap here.
    assert sorted(int(n.rsplit("-", 1)[1]) for n in numbers) == list(range(1, stock + 1))
    assert_books_ok(session_factory, demo.org_id)
    assert not db_conflicts.get("40P01"), f"deadlocks: {db_conflicts}"


@pytest.mark.parametrize("grouped", [False, True], ids=["alone", "grouped"])
@pytest.mark.parametrize("operation", ["receive", "ship"])
def test_same_idempotency_key_writes_once(session_factory, engine, demo, actors, db_conflicts, operation, grouped):
    """8 threads send one keyed command at once: one document, and everyone gets its answer.

    Alone (as requests in separate server processes race): on PostgreSQL the losers block on the
    key's unique index and get an IntegrityError, which ``run`` retries into a replay; the scenario
    repeats (fresh key) until that path was taken. Grouped (``run``: a receipt may commit with the
    others of its process, models.group_commit): the later ones find the first's record in the
    group's own transaction, or committed.
    """
    runner = run if grouped else run_alone
    sx, leaf = demo.sites["SX"], demo.items["茶青"]
    run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        sx, leaf, D(10), "公斤", party_id=demo.parties["李大伯"], grade_id=demo.grades["二级"]))
    kind = DocKind.RECEIPT if operation == "receive" else DocKind.SHIPMENT
    if operation == "receive":
        fn: Callable[..., Any] = receive_goods
        cmd: Any = ReceiveGoods(sx, leaf, D("23.5"), "斤", party_id=demo.parties["王阿姨"],
                                grade_id=demo.grades["一级"])
        step = D("11.75")
    else:
        fn, cmd = ship_goods, ShipGoods(sx, leaf, D(3), "斤", unit_price=D(100), party_id=demo.parties["杭州茶城"])
        step = D("-1.5")
    postgres = engine.dialect.name == "postgresql"

    def documents(s: Session) -> int:
        return s.scalar(select(func.count()).select_from(Document).where(
            Document.org_id == demo.org_id, Document.kind == kind))

    with session_factory() as s:
        before = documents(s)
    for round_no in range(1, 11):  # a busy 2-core machine may need a few rounds before the losers collide
        key = f"wx-msg-{uuid.uuid4().hex}"
        results = in_threads(8, lambda _, key=key: runner(session_factory, fn, actors["小周"], cmd,
                                                          idempotency_key=key))
        assert all(r == results[0] for r in results), results
        with session_factory() as s:
            assert documents(s) == before + round_no
            assert s.scalar(select(func.count()).select_from(IdempotencyRecord).where(
                IdempotencyRecord.org_id == demo.org_id, IdempotencyRecord.key == key)) == 1
            assert stock_level(s, demo.org_id, leaf, sx).on_hand == D(10) + step * round_no
        if grouped or not postgres or db_conflicts["unique"]:
            break
    assert grouped or not postgres or db_conflicts["unique"], "the losers never raced on the key's unique index"
    assert_books_ok(session_factory, demo.org_id)


def test_count_racing_order_shipments_keeps_reservations_true(session_factory, demo, actors):
    """Counts that cut an order's reservations while it ships: reserved stays Σ reservations."""
    zc, jar, customer = demo.sites["ZC"], demo.items["龙井"], demo.parties["杭州茶城"]
    run(session_factory, receive_goods, actors["赵经理"], ReceiveGoods(zc, jar, D(40), unit_price=D(60),
                                                                    price_reason="合同价"))
    order = run(session_factory, create_order, actors["赵经理"], CreateOrder(
        DocKind.SALES_ORDER, zc, customer, (OrderLineIn(jar, D(30), unit_price=D(150)),))).document_id

    def work(i: int) -> int:
        done = 0
        for n in range(8):
            try:
                if i == 0:
                    run(session_factory, ship_goods, actors["老孙"],
                        ShipGoods(zc, jar, D(1), party_id=customer, sales_order_id=order))
                else:  # the shelf keeps turning out emptier than the books say
                    run(session_factory, count_stock, actors["老孙"], CountStock(zc, jar, D(36 - 4 * n)))
                done += 1
            except InsufficientStock:
                pass
        return done

    shipped, counted = in_threads(2, work)
    assert counted == 8 and shipped >= 1
    with session_factory() as s:
        reserved = s.scalar(select(func.sum(Balance.reserved)).where(Balance.org_id == demo.org_id))
        promised = s.scalar(select(func.coalesce(func.sum(Reservation.quantity), 0)).where(
            Reservation.org_id == demo.org_id, Reservation.active.is_(True)))
        level = stock_level(s, demo.org_id, jar, zc)
    assert reserved == promised and 0 <= level.reserved <= level.on_hand
    assert_books_ok(session_factory, demo.org_id)


def test_concurrent_receipts_get_distinct_gap_free_numbers(session_factory, demo, actors, db_conflicts):
    """Receipts racing at one site on one day: RK-SX-<day>-0001…0040 and 40 distinct vouchers."""
    sx, leaf = demo.sites["SX"], demo.items["茶青"]
    threads, per_thread = 8, 5
    when = datetime.now(UTC) - timedelta(days=1)  # one fixed day, whatever the clock does meanwhile
    farmers = ["王阿姨", "李大伯", "陈小芳"]

    def deliver(i: int) -> list[Any]:
        return [
            run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
                sx, leaf, D(10 + i) + D(n) / 10, "斤", party_id=demo.parties[farmers[(i + n) % 3]],
                grade_id=demo.grades["一级"], business_time=when))
            for n in range(per_thread)
        ]

    receipts = [r for batch in in_threads(threads, deliver) for r in batch]
    total = threads * per_thread
    day = when.astimezone(SHANGHAI).strftime("%Y%m%d")
    assert sorted(r.number for r in receipts) == [f"RK-SX-{day}-{n:04d}" for n in range(1, total + 1)]
    vouchers = sorted(r.voucher_number for r in receipts)
    assert vouchers == [f"记-{period_of(when)}-{n:05d}" for n in range(1, total + 1)]
    with session_factory() as s:
        stored = s.scalars(select(Voucher.number).where(Voucher.org_id == demo.org_id)).all()
        assert sorted(stored) == vouchers
        on_hand = stock_level(s, demo.org_id, leaf, sx).on_hand
    assert on_hand == sum((r.quantity for r in receipts), D(0))
    assert_books_ok(session_factory, demo.org_id)
    assert not db_conflicts.get("40P01"), f"deadlocks: {db_conflicts}"


def test_opposite_transfers_do_not_deadlock(session_factory, demo, actors, db_conflicts):
    """SX→ZC and ZC→SX dispatched and received at the same time, over and over, finish in time."""
    sx, zc, leaf = demo.sites["SX"], demo.sites["ZC"], demo.items["茶青"]
    rounds = 6
    for site, who in ((sx, "小周"), (zc, "老孙")):
        for farmer in ("王阿姨", "李大伯"):  # two lots each side, so picks span lots
            run(session_factory, receive_goods, actors[who], ReceiveGoods(
                site, leaf, D(30), "公斤", party_id=demo.parties[farmer], grade_id=demo.grades["特级"]))
    routes = {0: (sx, zc, "小周", "老孙"), 1: (zc, sx, "老孙", "小周")}
    planned: dict[int, list[int]] = {0: [], 1: []}
    for side, (source, dest, sender, _) in routes.items():
        for n in range(rounds):
            t = run(session_factory, request_transfer, actors[sender],
                    RequestTransfer(source, dest, (TransferLineIn(leaf, D(3) + D(n) / 4),)))
            run(session_factory, decide_transfer, actors["赵经理"], DecideTransfer(t.document_id, True))
            planned[side].append(t.document_id)

    def move(side: int) -> list[str]:
        _, _, sender, receiver = routes[side]
        statuses = []
        for doc_id in planned[side]:
            run(session_factory, dispatch_transfer, actors[sender], TransferRef(doc_id))
            statuses.append(run(session_factory, receive_transfer, actors[receiver], TransferRef(doc_id)).status)
        return statuses

    started = time.monotonic()
    results = in_threads(2, move, timeout=TIMEOUT)
    elapsed = time.monotonic() - started
    assert results == [["received"] * rounds] * 2
    with session_factory() as s:  # each side sent what it got back
        assert stock_level(s, demo.org_id, leaf, sx).on_hand == D(60)
        assert stock_level(s, demo.org_id, leaf, zc).on_hand == D(60)
    assert_books_ok(session_factory, demo.org_id)
    assert not db_conflicts.get("40P01"), f"deadlocks detected (and retried): {db_conflicts}, {elapsed:.1f}s"
