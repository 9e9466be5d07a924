"""结账 against postings in flight (PostgreSQL: real row locks between real connections).

Whichever way the race goes, no voucher lands in a closed period: a posting in flight (it holds the
org row from its snapshot read) makes the close wait for it and is then closed with the rest, and a
posting that begins while the close runs waits for it and is refused by the snapshot it then reads.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from decimal import Decimal as D
from typing import Any

import pytest
from sqlalchemy import Engine, func, select, text

from models.actor import Actor
from models.documents import NumberSequence
from models.errors import PeriodClosed
from models.finance import Voucher, VoucherLine
from models.operations import ReceiveGoods, ShipGoods, receive_goods, ship_goods
from models.operations.closing import CLOSING_EVENT, ClosePeriod, close_period
from models.operations.money import RecordMoney, receive_money
from models.timeutil import SHANGHAI
from models.uow import run
from tests.factories import assert_books_ok, receive, row_counts

NOV = "202611"
TIMEOUT = 60.0


@pytest.fixture(autouse=True)
def _postgres_only(engine: Engine) -> None:
    if engine.dialect.name != "postgresql":
        pytest.skip("row locks between connections: PostgreSQL (SQLite serialises every writer)")


def nov(day: int) -> datetime:
    return datetime(2026, 11, day, 10, tzinfo=SHANGHAI)


def _november_is_whole(session_factory, org_id: int) -> list[str]:
    """The period's numbers are 1..N with the closing voucher last, and the counter is locked at N."""
    with session_factory() as s:
        rows = s.execute(select(Voucher.number, Voucher.event).where(
            Voucher.org_id == org_id, Voucher.period == NOV).order_by(Voucher.number)).all()
        counter = s.get_one(NumberSequence, (org_id, "voucher", NOV))
    numbers = [n for n, _e in rows]
    assert numbers == [f"记-{NOV}-{i:05d}" for i in range(1, len(numbers) + 1)]
    # Locked at the high-water mark (numbers taken ahead in blocks stay spent).
    assert counter.locked_through == counter.last >= len(numbers)
    return [e for _n, e in rows]


@pytest.mark.parametrize("path", ["writer", "orm"])
def test_a_posting_that_begins_while_the_close_runs_waits_and_is_refused(session_factory, engine, demo, actors,
                                                                         path):
    system = Actor.system_actor(demo.org_id)
    receive(session_factory, demo, 100, business_time=nov(3))
    closed, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    outcome: dict[str, Any] = {}

    def closing() -> None:
        def slow(session: Any) -> Any:
            state = close_period(session, actors["吴会计"], ClosePeriod(NOV))  # holds the org row …
            closed.set()
            release.wait(TIMEOUT)  # … until this commits
            return state
        try:
            run(session_factory, slow)
        except BaseException as exc:
            errors.append(exc)

    def posting() -> None:
        try:
            if path == "writer":
                run(session_factory, receive_goods, system, ReceiveGoods(
                    site_id=demo.sites["ZC"], item_id=demo.items["茶青"], quantity=D(10),
                    party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"], business_time=nov(20)))
            else:
                run(session_factory, receive_money, system,
                    RecordMoney(demo.parties["杭州茶城"], D(5), business_time=nov(20)))
        except BaseException as exc:
            outcome["error"] = exc

    deadline = time.monotonic() + TIMEOUT
    first = threading.Thread(target=closing, daemon=True)
    first.start()
    assert closed.wait(TIMEOUT)
    counts = row_counts(session_factory, demo.org_id)
    second = threading.Thread(target=posting, daemon=True)
    second.start()
    _wait_for_lock_wait(engine, deadline)  # the posting waits for the close …
    release.set()
    for t in (first, second):
        t.join(max(0.0, deadline - time.monotonic()))
        assert not t.is_alive(), "hang (deadlock?)"
    assert not errors, errors
    # … and then reads November as closed: refused by the snapshot, nothing written.
    assert isinstance(outcome.get("error"), PeriodClosed), outcome
    assert "已结账" in outcome["error"].message
    after = row_counts(session_factory, demo.org_id)
    assert after["documents"] == counts["documents"]  # (the close's own voucher and event came meanwhile)
    _november_is_whole(session_factory, demo.org_id)
    assert_books_ok(session_factory, demo.org_id)


def _wait_for_lock_wait(engine: Engine, deadline: float) -> None:
    """Until some backend of this database waits on a row lock (the close, behind the posting)."""
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            waiting = conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock'")).scalar()
            if waiting:
                return
            conn.rollback()
            time.sleep(0.01)
    raise AssertionError("the close never waited for the posting in flight")


def test_a_close_waits_for_a_posting_that_holds_the_number_and_closes_it_with_the_rest(
        session_factory, engine, demo, actors):
    system = Actor.system_actor(demo.org_id)
    receive(session_factory, demo, 100, business_time=nov(3))
    posted, release = threading.Event(), threading.Event()
    errors: list[BaseException] = []
    results: dict[str, Any] = {}

    def posting() -> None:
        def slow(session: Any) -> Any:
            shipped = ship_goods(session, system, ShipGoods(
                site_id=demo.sites["ZC"], item_id=demo.items["茶青"], quantity=D(10),
                party_id=demo.parties["杭州茶城"], unit_price=D(100), business_time=nov(25)))
            session.flush()  # its rows are sent; it holds the org row since its snapshot read
            posted.set()
            release.wait(TIMEOUT)
            return shipped
        try:
            results["shipment"] = run(session_factory, slow)
        except BaseException as exc:  # handed to the test thread
            errors.append(exc)

    def closing() -> None:
        try:
            results["close"] = run(session_factory, close_period, actors["吴会计"], ClosePeriod(NOV))
        except BaseException as exc:
            errors.append(exc)

    deadline = time.monotonic() + TIMEOUT
    first = threading.Thread(target=posting, daemon=True)
    first.start()
    assert posted.wait(TIMEOUT)
    second = threading.Thread(target=closing, daemon=True)
    second.start()
    _wait_for_lock_wait(engine, deadline)
    release.set()
    for t in (first, second):
        t.join(max(0.0, deadline - time.monotonic()))
        assert not t.is_alive(), "hang (deadlock?)"
    assert not errors, errors
    events = _november_is_whole(session_factory, demo.org_id)
    assert events[-1] == CLOSING_EVENT
    # The shipment committed before the close read anything: its revenue is in the closed profit.
    with session_factory() as s:
        voucher = s.scalar(select(Voucher.number).where(Voucher.document_id == results["shipment"].document_id))
        revenue = s.scalar(select(func.sum(VoucherLine.credit)).where(
            VoucherLine.org_id == demo.org_id, VoucherLine.account_code == "6001"))
    assert voucher is not None and voucher.startswith(f"记-{NOV}-")
    assert results["close"].profit > 0 and revenue == D("1000.00")
    assert_books_ok(session_factory, demo.org_id)


def test_a_close_numbers_its_voucher_even_when_the_months_counter_is_new(session_factory, engine, demo, actors):
    """The closing voucher's number comes from a block refill on the side pool, whose INSERT of a new
    counter row checks its foreign key to the org row (FOR KEY SHARE): the close's own hold on that
    row must not stop it (it did, with FOR UPDATE: the close waited for itself until lock_timeout)."""
    from models import number_blocks

    receive(session_factory, demo, 100, business_time=nov(3))
    run(session_factory, ship_goods, Actor.system_actor(demo.org_id), ShipGoods(
        site_id=demo.sites["ZC"], item_id=demo.items["茶青"], quantity=D(10), party_id=demo.parties["杭州茶城"],
        unit_price=D(100), business_time=nov(4)))
    with session_factory() as s:  # books brought in from elsewhere: their own numbers, no counter row
        s.execute(text("UPDATE vouchers SET number = 'IMP-' || id WHERE org_id = :o AND period = :p"),
                  {"o": demo.org_id, "p": NOV})
        s.execute(text("DELETE FROM number_sequences WHERE org_id = :o AND series = 'voucher' AND period = :p"),
                  {"o": demo.org_id, "p": NOV})
        s.commit()
    number_blocks.forget(engine.url.render_as_string(hide_password=False))
    state = run(session_factory, close_period, actors["吴会计"], ClosePeriod(NOV))
    assert state.closing_voucher_number is not None and state.profit > 0
    _november_is_whole(session_factory, demo.org_id)
