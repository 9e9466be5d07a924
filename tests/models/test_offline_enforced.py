"""The per-site offline policy applied by the operations at an edge node (issue 14 point 3): refused
operations raise the policy's code and write nothing; headquarters is never offline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from models.documents import DocStatus, Document
from models.errors import DomainError
from models.finance import Voucher
from models.operations import (
    CountStock,
    DecideTransfer,
    FreezeStock,
    ReceiveGoods,
    RequestTransfer,
    TransferLineIn,
    TransferRef,
    count_stock,
    decide_transfer,
    dispatch_transfer,
    freeze_stock,
    receive_goods,
    request_transfer,
)
from models.operations.receiving import ConfirmDraftReceipt, confirm_draft_receipt
from models.org import SitePolicy
from models.stock import FreezeDirection, StockMove
from models.uow import run
from tests.factories import receive, ship


def _policy(session_factory, demo, site: str, kinds: str, *, credit: D | None = None, warn: int = 24,
            refuse: int = 72) -> None:
    with session_factory.begin() as session:
        session.add(SitePolicy(org_id=demo.org_id, site_id=demo.sites[site], offline_kinds=kinds,
                               ship_credit_per_day=credit, warn_after_hours=warn, refuse_money_after_hours=refuse))


def _counts(session_factory, org_id: int) -> tuple[int, int, int]:
    with session_factory() as s:
        return tuple(s.scalar(select(func.count()).select_from(t).where(t.org_id == org_id)) or 0
                     for t in (Document, StockMove, Voucher))


def _refused(code: str, fn, *args, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as refused:
        fn(*args, **kwargs)
    assert refused.value.code == code, refused.value
    assert refused.value.http_status == 409
    assert "同步" in refused.value.message or code.endswith("EXCEEDED")
    return refused.value


def _ago(hours: float) -> datetime:
    return datetime.now(UTC) - timedelta(hours=hours)


def _receipt(session_factory, demo, actors):
    return run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=D("5"), unit="斤",
        party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"]))


def test_a_freshly_synced_node_receives(session_factory, demo, actors, node_synced):
    node_synced(datetime.now(UTC))
    assert _receipt(session_factory, demo, actors).document_id


def test_beyond_the_money_window_receipts_and_shipments_are_refused_but_a_count_runs(
        session_factory, demo, actors, node_synced):
    _policy(session_factory, demo, "ZC", "receive,ship,count")
    node_synced(datetime.now(UTC))
    receive(session_factory, demo, 10)  # stock at 总仓 while in touch
    node_synced(_ago(100))  # beyond the default 72 hours
    before = _counts(session_factory, demo.org_id)
    _refused("NODE_OFFLINE_TOO_LONG", _receipt, session_factory, demo, actors)
    _refused("NODE_OFFLINE_TOO_LONG", receive, session_factory, demo, 3)
    _refused("NODE_OFFLINE_TOO_LONG", ship, session_factory, demo, 2)
    assert _counts(session_factory, demo.org_id) == before
    # A count carries no money: past warn_after_hours it only warns.
    counted = run(session_factory, count_stock, actors["老孙"], CountStock(demo.sites["ZC"], demo.items["茶青"], D(9)))
    assert counted.document_id


def test_a_site_that_forbids_shipping_offline_refuses_once_past_the_online_window(
        session_factory, demo, actors, node_synced):
    _policy(session_factory, demo, "ZC", "receive,count")
    node_synced(datetime.now(UTC))
    receive(session_factory, demo, 10)
    assert ship(session_factory, demo, 1).document_id  # still online: nothing restricted
    node_synced(_ago(1))
    before = _counts(session_factory, demo.org_id)
    _refused("NODE_OFFLINE_NOT_ALLOWED", ship, session_factory, demo, 1)
    assert _counts(session_factory, demo.org_id) == before
    assert receive(session_factory, demo, 1).document_id  # receiving is allowed offline there


def test_a_node_that_never_synced_refuses_money_but_counts(session_factory, demo, actors, node_synced):
    _policy(session_factory, demo, "ZC", "receive,ship,count")
    node_synced(datetime.now(UTC))
    receive(session_factory, demo, 10)
    node_synced(None)
    before = _counts(session_factory, demo.org_id)
    error = _refused("NODE_OFFLINE_TOO_LONG", _receipt, session_factory, demo, actors)
    assert "从未" in error.message
    _refused("NODE_OFFLINE_TOO_LONG", ship, session_factory, demo, 1)
    assert _counts(session_factory, demo.org_id) == before
    assert run(session_factory, count_stock, actors["老孙"],
               CountStock(demo.sites["ZC"], demo.items["茶青"], D(10))).document_id


def test_the_daily_offline_ship_credit_is_enforced(session_factory, demo, actors, node_synced):
    _policy(session_factory, demo, "ZC", "receive,ship,count", credit=D(150))
    node_synced(datetime.now(UTC))
    receive(session_factory, demo, 10)
    node_synced(_ago(2))
    assert ship(session_factory, demo, 1, unit_price=100).document_id
    before = _counts(session_factory, demo.org_id)
    error = _refused("NODE_OFFLINE_CREDIT_EXCEEDED", ship, session_factory, demo, 1, unit_price=100)
    assert "150" in error.message
    assert _counts(session_factory, demo.org_id) == before


def test_headquarters_is_never_offline(session_factory, demo, actors):
    _policy(session_factory, demo, "ZC", "", refuse=1)  # would refuse everything at a node
    _policy(session_factory, demo, "SX", "", refuse=1)
    assert _receipt(session_factory, demo, actors).document_id
    receive(session_factory, demo, 10)
    assert ship(session_factory, demo, 1).document_id


def test_transfer_out_and_a_freeze_follow_the_sources_policy(session_factory, demo, actors, node_synced):
    sx, zc, leaf = demo.sites["SX"], demo.sites["ZC"], demo.items["茶青"]
    _policy(session_factory, demo, "SX", "receive,count")  # no transfer out, no freeze offline
    node_synced(datetime.now(UTC))
    _receipt(session_factory, demo, actors)
    transfer = run(session_factory, request_transfer, actors["小周"],
                   RequestTransfer(sx, zc, (TransferLineIn(leaf, D(1)),), urgent=True))
    run(session_factory, decide_transfer, actors["赵经理"], DecideTransfer(transfer.document_id, True))
    run(session_factory, decide_transfer, actors["钱总监"], DecideTransfer(transfer.document_id, True))
    node_synced(_ago(1))
    before = _counts(session_factory, demo.org_id)
    _refused("NODE_OFFLINE_NOT_ALLOWED", run, session_factory, dispatch_transfer, actors["小周"],
             TransferRef(transfer.document_id))
    _refused("NODE_OFFLINE_NOT_ALLOWED", run, session_factory, freeze_stock, actors["赵经理"],
             FreezeStock(leaf, FreezeDirection.OUTBOUND, "温度超标", site_id=sx))
    assert _counts(session_factory, demo.org_id) == before
    with session_factory() as s:
        assert s.get_one(Document, transfer.document_id).status == DocStatus.APPROVED


def test_confirming_a_draft_receipt_is_a_receipt_too(session_factory, demo, actors, node_synced):
    node_synced(datetime.now(UTC))
    draft = run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=D("4999"),
        party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"]))
    assert draft.status == "draft"
    node_synced(_ago(100))
    before = _counts(session_factory, demo.org_id)
    _refused("NODE_OFFLINE_TOO_LONG", run, session_factory, confirm_draft_receipt, actors["赵经理"],
             ConfirmDraftReceipt(draft.document_id))
    assert _counts(session_factory, demo.org_id) == before
    with session_factory() as s:
        assert s.get_one(Document, draft.document_id).status == DocStatus.DRAFT


def test_an_approval_is_decided_offline_only_where_the_site_allows_it(session_factory, demo, actors, node_synced):
    sx, zc, leaf = demo.sites["SX"], demo.sites["ZC"], demo.items["茶青"]
    _policy(session_factory, demo, "SX", "receive,count,transfer_out")  # no local approvals offline
    node_synced(datetime.now(UTC))
    _receipt(session_factory, demo, actors)
    transfer = run(session_factory, request_transfer, actors["小周"],
                   RequestTransfer(sx, zc, (TransferLineIn(leaf, D(1)),), urgent=True))
    node_synced(_ago(1))  # past the online grace: offline
    _refused("NODE_OFFLINE_NOT_ALLOWED", run, session_factory, decide_transfer, actors["赵经理"],
             DecideTransfer(transfer.document_id, True))
    with session_factory() as s:
        assert s.get_one(Document, transfer.document_id).status == DocStatus.REQUESTED
    with session_factory.begin() as s:  # the director lets local people decide offline at SX
        s.get_one(SitePolicy, sx).offline_kinds = "receive,count,transfer_out,approve"
    run(session_factory, decide_transfer, actors["赵经理"], DecideTransfer(transfer.document_id, True))
    run(session_factory, decide_transfer, actors["钱总监"], DecideTransfer(transfer.document_id, True))
    with session_factory() as s:
        assert s.get_one(Document, transfer.document_id).status == DocStatus.APPROVED
