"""Transfers: requested → approved → in transit → received, with the in-transit site and its vouchers."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from models.documents import Document
from models.errors import (
    InsufficientStock,
    InvalidState,
    PermissionDenied,
    SelfApproval,
    StockFrozen,
    ValidationError,
)
from models.finance import Voucher
from models.infra import OutboxEvent
from models.operations import (
    DecideTransfer,
    FreezeStock,
    ReceiveGoods,
    RequestTransfer,
    TransferLineIn,
    TransferRef,
    cancel_transfer,
    decide_transfer,
    dispatch_transfer,
    freeze_stock,
    receive_goods,
    receive_transfer,
    request_transfer,
)
from models.org import Site, SiteKind
from models.queries import stock_level
from models.stock import Balance, FreezeDirection, StockMove
from models.uow import run
from tests.factories import assert_books_ok

# --- helpers -----------------------------------------------------------------------------------

def _receive(sf, demo, actor, qty, grade, site="SX"):
    return run(sf, receive_goods, actor, ReceiveGoods(
        site_id=demo.sites[site], item_id=demo.items["茶青"], quantity=D(qty),
        party_id=demo.parties["王阿姨"], grade_id=demo.grades[grade]))


def _request(sf, demo, actor, qty, src="SX", dst="ZC", **kw):
    return run(sf, request_transfer, actor, RequestTransfer(
        demo.sites[src], demo.sites[dst], (TransferLineIn(demo.items["茶青"], D(qty)),), **kw))


def _level(sf, demo, site_id):
    with sf() as s:
        lvl = stock_level(s, demo.org_id, demo.items["茶青"], site_id)
    return lvl.on_hand, lvl.value


def _voucher_lines(sf, demo, number):
    with sf() as s:
        v = s.scalars(select(Voucher).where(Voucher.org_id == demo.org_id, Voucher.number == number)).one()
        return v.event, [(ln.account_code, ln.debit, ln.credit) for ln in v.lines]


def _status(sf, doc_id):
    with sf() as s:
        return s.get_one(Document, doc_id).status.value


def _counts(sf, demo):
    with sf() as s:
        def n(model):
            return s.scalar(select(func.count()).select_from(model).where(model.org_id == demo.org_id))
        return {"moves": n(StockMove), "vouchers": n(Voucher), "events": n(OutboxEvent),
                "sites": n(Site), "balances": n(Balance)}


@pytest.fixture
def stocked(session_factory, demo, actors):
    """SX holds 10 kg 一级 (¥80/kg) and 10 kg 特级 (¥120/kg): moving average ¥100/kg."""
    first = _receive(session_factory, demo, actors["小周"], 10, "一级")
    second = _receive(session_factory, demo, actors["小周"], 10, "特级")
    return first, second


# --- the happy path --------------------------------------------------------------------------

def test_full_path_moves_stock_through_transit_at_moving_average(session_factory, demo, actors, stocked):
    sf = session_factory
    sx, zc = demo.sites["SX"], demo.sites["ZC"]
    first, _ = stocked
    assert _level(sf, demo, sx) == (D(20), D(2000))

    t = _request(sf, demo, actors["小周"], 5, reason="总仓缺货")
    assert (t.status, t.from_site_id, t.to_site_id, t.urgent) == ("requested", sx, zc, False)
    assert t.lines[0].quantity == D(5) and t.lines[0].done_quantity == D(0)
    assert _level(sf, demo, sx) == (D(20), D(2000))  # a request moves nothing

    t = run(sf, decide_transfer, actors["赵经理"], DecideTransfer(t.document_id, True))
    assert t.status == "approved" and t.decided_by == demo.members["赵经理"]
    assert _level(sf, demo, sx) == (D(20), D(2000))

    t = run(sf, dispatch_transfer, actors["小周"], TransferRef(t.document_id))
    assert t.status == "in_transit" and t.lines[0].done_quantity == D(5)
    with sf() as s:
        doc = s.get_one(Document, t.document_id)
        transit = s.get_one(Site, doc.transit_site_id)
        assert (transit.kind, transit.code) == (SiteKind.IN_TRANSIT, "ZT-SX-ZC")
        assert (transit.route_from_id, transit.route_to_id) == (sx, zc)
        transit_id = transit.id
        transit_lots = {b.lot_id: (b.on_hand, b.value)
                        for b in s.scalars(select(Balance).where(Balance.site_id == transit_id))}
    # 5 kg issued at the site's moving average (2000 / 20 = 100), not at the lot's own ¥80.
    assert _level(sf, demo, sx) == (D(15), D(1500))
    assert _level(sf, demo, transit_id) == (D(5), D(500))
    assert transit_lots == {first.lot_id: (D(5), D(500))}  # FEFO: the first lot (same expiry, older id)
    assert _level(sf, demo, zc) == (D(0), D(0))
    assert _voucher_lines(sf, demo, t.voucher_number) == (
        "transfer.dispatched", [("1402", D(500), D(0)), ("1405", D(0), D(500))])

    t = run(sf, receive_transfer, actors["老孙"], TransferRef(t.document_id))
    assert t.status == "received"
    assert _level(sf, demo, sx) == (D(15), D(1500))
    assert _level(sf, demo, transit_id) == (D(0), D(0))
    assert _level(sf, demo, zc) == (D(5), D(500))
    assert _voucher_lines(sf, demo, t.voucher_number) == (
        "transfer.received", [("1405", D(500), D(0)), ("1402", D(0), D(500))])
    with sf() as s:
        zc_lots = {b.lot_id: b.on_hand for b in s.scalars(select(Balance).where(Balance.site_id == zc))}
        kinds = Counter(s.scalars(select(OutboxEvent.kind).where(
            OutboxEvent.document_id == t.document_id, OutboxEvent.kind.like("transfer.%"))))
        dispatched = s.scalars(select(OutboxEvent).where(
            OutboxEvent.document_id == t.document_id, OutboxEvent.kind == "transfer.dispatched")).one()
    assert zc_lots == {first.lot_id: D(5)}  # the lot identity travels with the goods
    assert kinds == Counter({"transfer.requested": 1, "transfer.approved": 1, "transfer.dispatched": 1,
                             "transfer.received": 1})
    assert dispatched.payload["cost"] == "500"
    assert_books_ok(sf, demo.org_id)


def test_second_transfer_on_the_same_route_reuses_its_transit_site(session_factory, demo, actors, stocked):
    sf = session_factory
    transit_ids = []
    for _ in range(2):
        t = _request(sf, demo, actors["小周"], 1)
        run(sf, decide_transfer, actors["赵经理"], DecideTransfer(t.document_id, True))
        run(sf, dispatch_transfer, actors["小周"], TransferRef(t.document_id))
        with sf() as s:
            transit_ids.append(s.get_one(Document, t.document_id).transit_site_id)
    assert transit_ids[0] == transit_ids[1]
    with sf() as s:
        transit_sites = s.scalar(select(func.count()).select_from(Site).where(
            Site.org_id == demo.org_id, Site.kind == SiteKind.IN_TRANSIT))
    assert transit_sites == 1
    assert _level(sf, demo, transit_ids[0]) == (D(2), D(200))
    assert_books_ok(sf, demo.org_id)


def test_issue_that_empties_a_lot_is_still_costed_at_moving_average(session_factory, demo, actors, stocked):
    sf = session_factory
    t = _request(sf, demo, actors["小周"], 12)
    run(sf, decide_transfer, actors["赵经理"], DecideTransfer(t.document_id, True))
    t = run(sf, dispatch_transfer, actors["小周"], TransferRef(t.document_id))
    # Average 100/kg: 12 kg cost 1200 and the 8 kg left keep the average (800).
    assert _voucher_lines(sf, demo, t.voucher_number)[1][0] == ("1402", D(1200), D(0))
    assert _level(sf, demo, demo.sites["SX"]) == (D(8), D(800))


# --- decisions -------------------------------------------------------------------------------

def test_reject_needs_a_reason_and_then_is_final(session_factory, demo, actors, stocked):
    sf = session_factory
    t = _request(sf, demo, actors["小周"], 5)
    for reason in ("", "   "):
        with pytest.raises(ValidationError):
            run(sf, decide_transfer, actors["赵经理"], DecideTransfer(t.document_id, False, reason))
    assert _status(sf, t.document_id) == "requested"

    done = run(sf, decide_transfer, actors["赵经理"], DecideTransfer(t.document_id, False, "总仓已满"))
    assert done.status == "rejected" and done.decided_by == demo.members["赵经理"]
    with sf() as s:
        doc = s.get_one(Document, t.document_id)
        assert "总仓已满" in doc.note and doc.decided_at is not None
        event = s.scalars(select(OutboxEvent).where(
            OutboxEvent.document_id == t.document_id, OutboxEvent.kind == "transfer.rejected")).one()
    assert event.payload["reason"] == "总仓已满"
    with pytest.raises(InvalidState):
        run(sf, dispatch_transfer, actors["小周"], TransferRef(t.document_id))
    with pytest.raises(InvalidState):
        run(sf, decide_transfer, actors["钱总监"], DecideTransfer(t.document_id, True))
    assert _status(sf, t.document_id) == "rejected"
    assert_books_ok(sf, demo.org_id)


def test_first_decision_wins(session_factory, demo, actors, stocked):
    sf = session_factory
    t = _request(sf, demo, actors["小周"], 5)
    run(sf, decide_transfer, actors["赵经理"], DecideTransfer(t.document_id, True))
    before = _counts(sf, demo)
    with pytest.raises(InvalidState):
        run(sf, decide_transfer, actors["钱总监"], DecideTransfer(t.document_id, False, "不同意"))
    with pytest.raises(InvalidState):
        run(sf, decide_transfer, actors["钱总监"], DecideTransfer(t.document_id, True))
    assert _status(sf, t.document_id) == "approved"
    assert _counts(sf, demo) == before
    with sf() as s:
        assert s.get_one(Document, t.document_id).decided_by == demo.members["赵经理"]
    assert_books_ok(sf, demo.org_id)


def test_requester_cannot_approve_own_request_but_a_director_can(session_factory, demo, actors, stocked):
    sf = session_factory
    t = _request(sf, demo, actors["赵经理"], 5)
    with pytest.raises(SelfApproval):
        run(sf, decide_transfer, actors["赵经理"], DecideTransfer(t.document_id, True))
    with pytest.raises(SelfApproval):
        run(sf, decide_transfer, actors["赵经理"], DecideTransfer(t.document_id, False, "算了"))
    assert _status(sf, t.document_id) == "requested"
    done = run(sf, decide_transfer, actors["钱总监"], DecideTransfer(t.document_id, True))
    assert done.status == "approved" and done.decided_by == demo.members["钱总监"]

    # Nobody decides their own request, directors included (issue 10 finding 8): the manager does.
    own = _request(sf, demo, actors["钱总监"], 1)
    with pytest.raises(SelfApproval):
        run(sf, decide_transfer, actors["钱总监"], DecideTransfer(own.document_id, True))
    assert run(sf, decide_transfer, actors["赵经理"], DecideTransfer(own.document_id, True)).status == "approved"
    assert_books_ok(sf, demo.org_id)


def test_only_approvers_decide(session_factory, demo, actors, stocked):
    sf = session_factory
    t = _request(sf, demo, actors["小周"], 5)
    for name in ("小周", "老孙", "吴会计", "王阿姨"):
        with pytest.raises(PermissionDenied):
            run(sf, decide_transfer, actors[name], DecideTransfer(t.document_id, True))
    assert _status(sf, t.document_id) == "requested"
    assert_books_ok(sf, demo.org_id)


def test_cancel_before_dispatch_but_not_after(session_factory, demo, actors, stocked):
    sf = session_factory
    requested = _request(sf, demo, actors["小周"], 5)
    with pytest.raises(PermissionDenied):  # neither requester nor approver
        run(sf, cancel_transfer, actors["老孙"], TransferRef(requested.document_id, "不要了"))
    assert run(sf, cancel_transfer, actors["小周"], TransferRef(requested.document_id, "不要了")).status == "cancelled"

    approved = _request(sf, demo, actors["小周"], 5)
    run(sf, decide_transfer, actors["赵经理"], DecideTransfer(approved.document_id, True))
    assert run(sf, cancel_transfer, actors["赵经理"], TransferRef(approved.document_id)).status == "cancelled"
    with pytest.raises(InvalidState):
        run(sf, dispatch_transfer, actors["小周"], TransferRef(approved.document_id))

    gone = _request(sf, demo, actors["小周"], 5)
    run(sf, decide_transfer, actors["赵经理"], DecideTransfer(gone.document_id, True))
    run(sf, dispatch_transfer, actors["小周"], TransferRef(gone.document_id))
    with pytest.raises(InvalidState):
        run(sf, cancel_transfer, actors["小周"], TransferRef(gone.document_id))
    assert _status(sf, gone.document_id) == "in_transit"
    with sf() as s:
        kinds = Counter(s.scalars(select(OutboxEvent.kind).where(
            OutboxEvent.org_id == demo.org_id, OutboxEvent.kind.like("transfer.%"))))
    assert kinds["transfer.cancelled"] == 2
    assert _level(sf, demo, demo.sites["SX"]) == (D(15), D(1500))
    assert_books_ok(sf, demo.org_id)


def test_cannot_dispatch_unapproved(session_factory, demo, actors, stocked):
    sf = session_factory
    t = _request(sf, demo, actors["小周"], 5)
    before = _counts(sf, demo)
    with pytest.raises(InvalidState):
        run(sf, dispatch_transfer, actors["小周"], TransferRef(t.document_id))
    with pytest.raises(InvalidState):
        run(sf, receive_transfer, actors["老孙"], TransferRef(t.document_id))
    assert _status(sf, t.document_id) == "requested"
    assert _counts(sf, demo) == before
    assert_books_ok(sf, demo.org_id)


def test_dispatch_with_insufficient_stock_writes_nothing(session_factory, demo, actors, stocked):
    sf = session_factory
    t = _request(sf, demo, actors["小周"], 25)  # 20 on hand
    run(sf, decide_transfer, actors["赵经理"], DecideTransfer(t.document_id, True))
    before = _counts(sf, demo)
    with pytest.raises(InsufficientStock) as err:
        run(sf, dispatch_transfer, actors["小周"], TransferRef(t.document_id))
    assert err.value.details["available"] == "20" and err.value.details["requested"] == "25"
    assert _status(sf, t.document_id) == "approved"
    assert _counts(sf, demo) == before  # no move, voucher, event, transit site or balance row
    with sf() as s:
        doc = s.get_one(Document, t.document_id)
        assert doc.transit_site_id is None and doc.lines[0].done_quantity == D(0)
    assert _level(sf, demo, demo.sites["SX"]) == (D(20), D(2000))
    assert_books_ok(sf, demo.org_id)


def test_destination_inbound_freeze_blocks_receive(session_factory, demo, actors, stocked):
    sf = session_factory
    t = _request(sf, demo, actors["小周"], 5)
    run(sf, decide_transfer, actors["赵经理"], DecideTransfer(t.document_id, True))
    run(sf, dispatch_transfer, actors["小周"], TransferRef(t.document_id))
    run(sf, freeze_stock, actors["老孙"], FreezeStock(
        demo.items["茶青"], FreezeDirection.INBOUND, "总仓盘库", site_id=demo.sites["ZC"]))
    before = _counts(sf, demo)
    with pytest.raises(StockFrozen):
        run(sf, receive_transfer, actors["老孙"], TransferRef(t.document_id))
    assert _status(sf, t.document_id) == "in_transit"
    assert _counts(sf, demo) == before
    assert _level(sf, demo, demo.sites["ZC"]) == (D(0), D(0))
    assert_books_ok(sf, demo.org_id)


def test_clerk_at_source_cannot_receive_at_destination(session_factory, demo, actors, stocked):
    sf = session_factory
    t = _request(sf, demo, actors["小周"], 5)
    run(sf, decide_transfer, actors["赵经理"], DecideTransfer(t.document_id, True))
    with pytest.raises(PermissionDenied):  # 老孙 keeps ZC and MD, not SX
        run(sf, dispatch_transfer, actors["老孙"], TransferRef(t.document_id))
    run(sf, dispatch_transfer, actors["小周"], TransferRef(t.document_id))
    with pytest.raises(PermissionDenied) as err:
        run(sf, receive_transfer, actors["小周"], TransferRef(t.document_id))
    assert err.value.code == "PERMISSION_DENIED" and err.value.details["site_id"] == demo.sites["ZC"]
    assert _status(sf, t.document_id) == "in_transit"
    assert run(sf, receive_transfer, actors["老孙"], TransferRef(t.document_id)).status == "received"
    with pytest.raises(InvalidState):  # and only once
        run(sf, receive_transfer, actors["老孙"], TransferRef(t.document_id))
    assert _level(sf, demo, demo.sites["ZC"]) == (D(5), D(500))
    assert_books_ok(sf, demo.org_id)


def test_request_validation(session_factory, demo, actors, stocked):
    sf = session_factory
    with pytest.raises(ValidationError):
        _request(sf, demo, actors["小周"], 5, src="SX", dst="SX")
    with pytest.raises(ValidationError):
        run(sf, request_transfer, actors["小周"], RequestTransfer(demo.sites["SX"], demo.sites["ZC"], ()))
    with pytest.raises(PermissionDenied):  # 小周 works at SX only
        _request(sf, demo, actors["小周"], 5, src="ZC", dst="MD")
    with pytest.raises(PermissionDenied):
        _request(sf, demo, actors["王阿姨"], 5)
    # An in-transit site is no place to ship from or to.
    t = _request(sf, demo, actors["小周"], 1)
    run(sf, decide_transfer, actors["赵经理"], DecideTransfer(t.document_id, True))
    run(sf, dispatch_transfer, actors["小周"], TransferRef(t.document_id))
    with sf() as s:
        transit_id = s.get_one(Document, t.document_id).transit_site_id
    with pytest.raises(ValidationError):
        run(sf, request_transfer, actors["赵经理"], RequestTransfer(
            transit_id, demo.sites["MD"], (TransferLineIn(demo.items["茶青"], D(1)),)))
    # Entered units convert to the base unit: 4 斤 = 2 kg.
    jin = run(sf, request_transfer, actors["小周"], RequestTransfer(
        demo.sites["SX"], demo.sites["ZC"], (TransferLineIn(demo.items["茶青"], D(4), "斤"),)))
    assert jin.lines[0].quantity == D(2) and jin.lines[0].base_unit == "公斤"
    urgent = _request(sf, demo, actors["小周"], 1, urgent=True, reason="门店断货")
    with sf() as s:
        event = s.scalars(select(OutboxEvent).where(
            OutboxEvent.document_id == urgent.document_id, OutboxEvent.kind == "transfer.requested")).one()
        assert s.get_one(Document, urgent.document_id).urgent
    assert urgent.urgent and event.payload["urgent"] is True and event.payload["requested_by"] == demo.members["小周"]
    assert_books_ok(sf, demo.org_id)



def test_a_quantity_with_more_decimals_than_a_threshold_still_finds_its_chain(session_factory, demo, actors, stocked):
    # Chain thresholds have two decimals, quantities six: 13.805 kg must meet a 13.80 threshold, not crash.
    from models.approvals import ApprovalRequest
    from models.operations.approvals import ChainSpec, create_chain

    run(session_factory, create_chain, actors["钱总监"], ChainSpec(
        "transfer", "大宗调拨", ({"role": "director", "timeout_hours": 8},), min_value=D("13.80")))
    big = _request(session_factory, demo, actors["小周"], "13.805")
    small = _request(session_factory, demo, actors["小周"], "13.795")
    with session_factory() as s:
        steps = {r.document_id: [st["role"] for st in r.steps] for r in s.query(ApprovalRequest).where(
            ApprovalRequest.document_id.in_([big.document_id, small.document_id]))}
    assert steps == {big.document_id: ["director"], small.document_id: ["manager"]}
