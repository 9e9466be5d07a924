"""Attacks on the books: a clerk closing or anyone but a director reopening, another org's period,
a reopen without a reason, absurd periods, and a posting backdated into a closed period through
every route that takes a business time — each refused, and nothing written."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from sqlalchemy import select

from models.demo import seed_demo
from models.finance import Voucher
from models.operations.closing import ClosePeriod, close_period
from models.timeutil import SHANGHAI
from models.uow import run
from tests.factories import receive, ship
from tests.security.conftest import assert_refused, rows

NOV = "202611"
LATE_NOV = datetime(2026, 11, 28, 9, tzinfo=SHANGHAI).isoformat()


def _close_november(session_factory, demo, actors) -> None:
    receive(session_factory, demo, 100, business_time=datetime(2026, 11, 3, 9, tzinfo=SHANGHAI))
    ship(session_factory, demo, 10, unit_price=100, business_time=datetime(2026, 11, 10, 9, tzinfo=SHANGHAI))
    run(session_factory, close_period, actors["吴会计"], ClosePeriod(NOV))


def test_a_clerk_cannot_close_and_only_a_director_reopens(client, demo, session_factory, actors, as_, engine):
    receive(session_factory, demo, 10, business_time=datetime(2026, 11, 3, 9, tzinfo=SHANGHAI))
    clerk, wu, boss = as_("小周"), as_("吴会计"), as_("钱总监")
    before = rows(engine)
    assert_refused(client.post(f"/api/v1/books/periods/{NOV}/close", headers=clerk), 403, "PERMISSION_DENIED")
    assert client.get(f"/api/v1/books/trial-balance?period={NOV}", headers=clerk).status_code == 403
    assert rows(engine) == before
    assert client.post(f"/api/v1/books/periods/{NOV}/close", headers=wu).status_code == 200
    before = rows(engine)
    for who in (clerk, wu, as_("赵经理")):
        assert_refused(client.post(f"/api/v1/books/periods/{NOV}/reopen", headers=who, json={"reason": "改账"}),
                       403, "PERMISSION_DENIED")
    assert rows(engine) == before
    assert client.post(f"/api/v1/books/periods/{NOV}/reopen", headers=boss, json={"reason": "改账"}).status_code == 200


@pytest.mark.parametrize("body", [{}, {"reason": ""}, {"reason": "   "}, {"reason": "x" * 300}])
def test_reopen_without_a_reason_is_refused(client, demo, session_factory, actors, as_, engine, body):
    _close_november(session_factory, demo, actors)
    boss = as_("钱总监")
    before = rows(engine)
    r = client.post(f"/api/v1/books/periods/{NOV}/reopen", headers=boss, json=body)
    assert r.status_code == 422, r.get_json()
    assert rows(engine) == before


@pytest.mark.parametrize("period", ["202613", "999999", "20261", "2026111", "abcdef", "209912", "190001"])
def test_absurd_periods_are_refused(client, demo, as_, engine, period):
    wu = as_("吴会计")
    before = rows(engine)
    assert client.post(f"/api/v1/books/periods/{period}/close", headers=wu).status_code in (404, 422)
    if period != "209912":  # a future period may be read (it shows today's balances), never closed
        assert client.get(f"/api/v1/books/trial-balance?period={period}", headers=wu).status_code in (404, 422)
    assert rows(engine) == before


def test_another_orgs_close_leaves_ours_open_and_untouched(client, demo, session_factory, actors, as_):
    other = run(session_factory, seed_demo, f"x-{uuid.uuid4().hex[:8]}")
    receive(session_factory, demo, 10, business_time=datetime(2026, 11, 3, 9, tzinfo=SHANGHAI))
    with session_factory() as s:
        ours = s.scalars(select(Voucher.number).where(Voucher.org_id == demo.org_id).order_by(Voucher.id)).all()
    from models.actor import Actor

    receive(session_factory, other, 10, business_time=datetime(2026, 11, 4, 9, tzinfo=SHANGHAI))
    run(session_factory, close_period, Actor.system_actor(other.org_id), ClosePeriod(NOV))
    with session_factory() as s:
        assert s.scalars(select(Voucher.number).where(Voucher.org_id == demo.org_id).order_by(Voucher.id)).all() \
            == ours
    listed = client.get("/api/v1/books/periods", headers=as_("吴会计")).get_json()["periods"]
    assert next(p for p in listed if p["period"] == NOV)["status"] == "open"
    receive(session_factory, demo, 10, business_time=datetime(2026, 11, 29, 9, tzinfo=SHANGHAI))  # still posts


def test_a_posting_backdated_into_a_closed_period_is_refused_on_every_route(
        client, demo, session_factory, actors, as_, engine):
    _close_november(session_factory, demo, actors)
    boss = as_("钱总监")
    before = rows(engine)
    shipment = {"site_id": demo.sites["ZC"], "item_id": demo.items["茶青"], "quantity": "1",
                "party_id": demo.parties["杭州茶城"], "unit_price": "100", "business_time": LATE_NOV}
    assert_refused(client.post("/api/v1/shipments", headers=boss, json=shipment), 409, "PERIOD_CLOSED",
                   "2026年11月已结账")
    assert_refused(client.post("/api/v1/finance/money-received", headers=boss,
                               json={"party_id": demo.parties["杭州茶城"], "amount": "10", "business_time": LATE_NOV}),
                   409, "PERIOD_CLOSED")
    assert_refused(client.post("/api/v1/finance/money-paid", headers=boss,
                               json={"party_id": demo.parties["王阿姨"], "amount": "10", "business_time": LATE_NOV}),
                   409, "PERIOD_CLOSED")
    op = {"client_id": str(uuid.uuid4()), "kind": "receive", "business_time": LATE_NOV,
          "body": {"site_id": demo.sites["ZC"], "item_id": demo.items["茶青"], "quantity": "10", "unit": "公斤",
                   "party_id": demo.parties["王阿姨"], "grade_id": demo.grades["一级"]}}
    r = client.post("/api/v1/sync", headers=boss, json={"operations": [op]})
    [result] = r.get_json()["results"]
    assert result["status"] == "conflict" and result["error"]["code"] == "PERIOD_CLOSED", result
    count = {"site_id": demo.sites["ZC"], "item_id": demo.items["茶青"], "counted": "1", "business_time": LATE_NOV}
    assert_refused(client.post("/api/v1/counts", headers=boss, json=count), 409, "PERIOD_CLOSED")
    assert rows(engine, ignore={"sync_batches"}) == before


def test_closing_twice_or_reopening_an_open_period_is_refused_and_writes_nothing(
        client, demo, session_factory, actors, as_, engine):
    """A second close under a new Idempotency-Key is not a replay: refused, no second closing voucher;
    a reopen of a period that is open (again) is refused too."""
    _close_november(session_factory, demo, actors)
    wu, boss = as_("吴会计"), as_("钱总监")
    before = rows(engine)
    assert_refused(client.post(f"/api/v1/books/periods/{NOV}/close", headers={**wu, "Idempotency-Key": "again"}),
                   409, "INVALID_STATE", "2026年11月已结账")
    assert rows(engine) == before
    assert client.post(f"/api/v1/books/periods/{NOV}/reopen", headers=boss, json={"reason": "改账"}).status_code == 200
    before = rows(engine)
    assert_refused(client.post(f"/api/v1/books/periods/{NOV}/reopen", headers=boss, json={"reason": "再改"}),
                   409, "INVALID_STATE", "没有结账")
    assert rows(engine) == before


def test_a_close_with_a_draft_in_the_month_is_refused_through_the_api_and_writes_nothing(
        client, demo, session_factory, as_, engine):
    draft = receive(session_factory, demo, 5000, business_time=datetime(2026, 11, 4, 9, tzinfo=SHANGHAI))
    assert draft.status == "draft"  # above the review limit
    before = rows(engine)
    error = assert_refused(client.post(f"/api/v1/books/periods/{NOV}/close", headers=as_("吴会计")),
                           409, "PERIOD_CHECKS_FAILED", "草稿")
    assert any(draft.number in p for p in error["details"]["problems"])
    assert rows(engine) == before
