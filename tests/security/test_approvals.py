"""Issue 10 findings 1 and 8: approval chains cannot be bypassed.

Each test replays an attack as it was seen and asserts the refusal (status, code, Chinese message)
and that the refused request wrote nothing.
"""

from __future__ import annotations

import math
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import delete, func, select

import workflows.handlers  # noqa: F401  (register relay handlers)
from devstubs.dingtalk import install_dingtalk_token
from devstubs.dingtalk_cards import install_dingtalk_cards
from devstubs.server import StubServer
from models.actor import load_actor
from models.approvals import ApprovalChain, ApprovalRequest, ApprovalStatus
from models.base import utcnow
from models.demo import seed_demo
from models.documents import DocKind, DocStatus, Document
from models.errors import ValidationError
from models.event_log import HandlerRun, Notification, RunStatus
from models.finance import Voucher
from models.operations import CreateOrder, OrderLineIn, create_order
from models.operations.approvals import ChainSpec, create_chain
from models.stock import StockMove
from models.uow import run
from tests.factories import drain
from tests.miniprogram_api.fixtures_3b import receive
from tests.security.conftest import assert_refused, rows
from workflows import approvals as approval_reactions
from workflows.messenger import PlatformMessenger, set_messenger
from workflows.relay import retry_due


def _transfer(client, demo, as_, who: str = "小周", qty: str = "2") -> int:
    resp = client.post("/api/v1/transfers", headers=as_(who), json={
        "from_site_id": demo.sites["SX"], "to_site_id": demo.sites["ZC"],
        "lines": [{"item_id": demo.items["茶青"], "quantity": qty}]})
    assert resp.status_code == 200, resp.get_data(as_text=True)
    return resp.get_json()["document_id"]


def _request_of(session_factory, document_id: int) -> ApprovalRequest:
    with session_factory() as s:
        return s.scalars(select(ApprovalRequest).where(ApprovalRequest.document_id == document_id)).one()


def _big_order(session_factory, demo, actor) -> int:
    """¥20,000 of 龙井: over the ¥10,000 threshold, so the order needs its chain."""
    order = run(session_factory, create_order, actor, CreateOrder(
        DocKind.PURCHASE_ORDER, demo.sites["ZC"], demo.parties["包装厂"],
        (OrderLineIn(demo.items["龙井"], Decimal(1000), None, Decimal(20)),)))
    return order.document_id


def _director_only_chain(session_factory, actors) -> None:
    run(session_factory, create_chain, actors["钱总监"], ChainSpec(
        "transfer", "只由总监审批", ({"role": "director", "timeout_hours": 24},)))


def _moves_and_vouchers(session_factory, document_id: int) -> tuple[int, int]:
    with session_factory() as s:
        moves = s.scalar(select(func.count()).select_from(StockMove).where(StockMove.document_id == document_id))
        vouchers = s.scalar(select(func.count()).select_from(Voucher).where(Voucher.document_id == document_id))
    return moves or 0, vouchers or 0


def test_a_manager_cannot_skip_a_director_only_chain(client, demo, actors, session_factory, engine, as_):
    receive(session_factory, demo, actors, "10")
    _director_only_chain(session_factory, actors)
    doc_id = _transfer(client, demo, as_)
    # No relay has run: the request exists because the operation opened it in its own transaction.
    req = _request_of(session_factory, doc_id)
    assert [s["role"] for s in req.steps] == ["director"] and req.status == ApprovalStatus.PENDING

    before = rows(engine)
    at_once = client.post(f"/api/v1/approvals/{doc_id}", headers=as_("赵经理"), json={"decision": "approve"})
    assert_refused(at_once, 403, "PERMISSION_DENIED", "本级应由总监审批")
    by_request = client.post(f"/api/v1/approvals/requests/{req.id}", headers=as_("赵经理"),
                             json={"decision": "approve"})
    assert_refused(by_request, 403, "PERMISSION_DENIED", "总监")
    assert rows(engine) == before
    with session_factory() as s:
        assert s.get_one(Document, doc_id).status == DocStatus.REQUESTED
    assert _moves_and_vouchers(session_factory, doc_id) == (0, 0)

    ok = client.post(f"/api/v1/approvals/{doc_id}", headers=as_("钱总监"), json={"decision": "approve"})
    assert ok.status_code == 200 and ok.get_json()["status"] == "approved"
    twice = client.post(f"/api/v1/approvals/{doc_id}", headers=as_("钱总监"),
                        json={"decision": "reject", "reason": "改主意"})
    assert_refused(twice, 409, "INVALID_STATE", "已同意")


def test_a_document_without_its_request_is_refused_not_decided(client, demo, actors, session_factory, engine, as_):
    receive(session_factory, demo, actors, "10")
    doc_id = _transfer(client, demo, as_)
    with session_factory() as s:  # a transfer from before requests were opened with it
        s.execute(delete(ApprovalRequest).where(ApprovalRequest.document_id == doc_id))
        s.commit()
    before = rows(engine)
    resp = client.post(f"/api/v1/approvals/{doc_id}", headers=as_("赵经理"), json={"decision": "approve"})
    assert_refused(resp, 409, "APPROVAL_NOT_OPENED", "审批流程尚未开启")
    assert rows(engine) == before
    with session_factory() as s:
        assert s.get_one(Document, doc_id).status == DocStatus.REQUESTED


def test_a_purchase_order_opens_its_request_with_the_order(session_factory, demo, actors):
    small = run(session_factory, create_order, actors["赵经理"], CreateOrder(
        DocKind.PURCHASE_ORDER, demo.sites["ZC"], demo.parties["包装厂"],
        (OrderLineIn(demo.items["龙井"], Decimal(10), None, Decimal(20)),)))
    big = _big_order(session_factory, demo, actors["赵经理"])
    with session_factory() as s:  # before any relay: receiving can check the request (helper B)
        assert s.scalar(select(ApprovalRequest).where(ApprovalRequest.document_id == small.document_id)) is None
    req = _request_of(session_factory, big)
    assert (req.doc_kind, req.status, [s["role"] for s in req.steps]) == (
        "purchase_order", ApprovalStatus.PENDING, ["manager", "director"])


@pytest.mark.parametrize("creator", ["赵经理", "钱总监"])
def test_nobody_decides_their_own_purchase_order(client, demo, actors, session_factory, engine, as_, creator):
    req = _request_of(session_factory, _big_order(session_factory, demo, actors[creator]))
    before = rows(engine)
    for decision in ({"decision": "approve"}, {"decision": "reject", "reason": "不买了"}):
        resp = client.post(f"/api/v1/approvals/requests/{req.id}", headers=as_(creator), json=decision)
        assert_refused(resp, 403, "SELF_APPROVAL", "不能审批自己提交的采购订单")
    assert rows(engine) == before
    assert _request_of(session_factory, req.document_id).history == []


def test_a_director_does_not_approve_her_own_transfer(client, demo, actors, session_factory, engine, as_):
    receive(session_factory, demo, actors, "10")
    doc_id = _transfer(client, demo, as_, who="钱总监")
    before = rows(engine)
    resp = client.post(f"/api/v1/approvals/{doc_id}", headers=as_("钱总监"), json={"decision": "approve"})
    assert_refused(resp, 403, "SELF_APPROVAL", "不能审批自己提交的调拨单")
    assert rows(engine) == before


def test_a_farmer_and_another_org_cannot_decide(client, demo, actors, session_factory, engine, as_):
    receive(session_factory, demo, actors, "10")
    doc_id = _transfer(client, demo, as_)
    po = _request_of(session_factory, _big_order(session_factory, demo, actors["赵经理"]))
    other = run(session_factory, seed_demo, f"o-{uuid.uuid4().hex[:10]}")
    with session_factory() as s:
        other_manager = load_actor(s, other.members["赵经理"])
    foreign = _request_of(session_factory, _big_order(session_factory, other, other_manager))
    before = rows(engine)
    assert_refused(client.post(f"/api/v1/approvals/{doc_id}", headers=as_("王阿姨"), json={"decision": "approve"}),
                   403, "PERMISSION_DENIED", "审批调拨")
    assert_refused(client.post(f"/api/v1/approvals/requests/{po.id}", headers=as_("王阿姨"),
                               json={"decision": "approve"}), 403, "PERMISSION_DENIED", "本级应由主管审批")
    assert_refused(client.post(f"/api/v1/approvals/requests/{foreign.id}", headers=as_("钱总监"),
                               json={"decision": "approve"}), 404, "NOT_FOUND", "找不到审批")
    assert rows(engine) == before


@pytest.mark.parametrize(("steps", "fragment"), [
    ([{"role": "director", "timeout_hours": math.inf}], "时限"),
    ([{"role": "director", "timeout_hours": math.nan}], "时限"),
    ([{"role": "director", "timeout_hours": True}], "时限"),
    ([{"role": "director", "timeout_hours": 0}], "时限"),
    ([{"role": "director", "timeout_hours": 721}], "时限"),
    ([{"role": "director", "timeout_hours": "24"}], "时限"),
    ([{"role": "boss", "timeout_hours": 24}], "角色"),
    ([{"role": "farmer", "timeout_hours": 24}], "角色"),
    ([{"role": "director", "timeout_hours": 24, "skip": True}], "格式"),
    (["director"], "格式"),
    ([{"role": "manager", "timeout_hours": 1}] * 11, "最多 10 级"),
    ([], "至少"),
])
def test_a_chain_with_bad_steps_is_refused_at_save(session_factory, engine, demo, actors, steps, fragment):
    before = rows(engine)
    with pytest.raises(ValidationError) as caught:
        run(session_factory, create_chain, actors["钱总监"], ChainSpec("transfer", "坏链", tuple(steps)))
    assert caught.value.code == "VALIDATION_ERROR" and fragment in caught.value.message
    assert rows(engine) == before


def test_an_infinite_timeout_is_refused_by_the_chain_api(client, demo, session_factory, engine, as_):
    before = rows(engine)
    resp = client.post("/api/v1/workflows/chains", headers={**as_("钱总监"), "Content-Type": "application/json"},
                       data='{"doc_kind": "transfer", "name": "永不超时", '
                            '"steps": [{"role": "director", "timeout_hours": Infinity}]}')
    assert_refused(resp, 422, "VALIDATION_ERROR")
    assert rows(engine) == before
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(ApprovalChain).where(
            ApprovalChain.org_id == demo.org_id)) == 0


@pytest.fixture
def cards_stub():
    with StubServer() as server:
        install_dingtalk_token(server)
        server.cards = install_dingtalk_cards(server)
        set_messenger(PlatformMessenger(
            dingtalk_key="ding-test-key", dingtalk_secret="ding-test-secret", card_template_id="tpl.schema",
            robot_code="robot", dingtalk_base=server.base_url))
        yield server
        set_messenger(None)


def test_a_retried_card_send_updates_the_card_instead_of_failing(
        client, demo, actors, session_factory, as_, cards_stub, monkeypatch):
    drain(session_factory)  # what earlier tests left
    receive(session_factory, demo, actors, "10")
    doc_id = _transfer(client, demo, as_)
    req = _request_of(session_factory, doc_id)
    track = f"{req.card_track_id}-L0"

    def down(*_a, **_k):
        raise RuntimeError("to-do store is down")

    monkeypatch.setattr(approval_reactions, "create_todo", down)  # fails after the card went out
    drain(session_factory)
    assert track in cards_stub.cards.cards and cards_stub.cards.cards[track]["updates"] == 0
    with session_factory() as s:
        [failed] = s.scalars(select(HandlerRun).where(HandlerRun.org_id == demo.org_id,
                                                      HandlerRun.handler == "approvals.notify_level"))
        assert failed.status == RunStatus.RETRY and "to-do store is down" in failed.last_error
    monkeypatch.undo()
    # The retry re-sends the same outTrackId; DingTalk answers card.instance.exist; the card is updated.
    retry_due(session_factory, now=utcnow() + timedelta(hours=2))
    with session_factory() as s:
        done = s.get_one(HandlerRun, failed.id)
        assert (done.status, done.attempts) == (RunStatus.DONE, 2)
    assert cards_stub.cards.cards[track]["updates"] == 1
    assert len([t for t in cards_stub.cards.cards if t.startswith(req.card_track_id)]) == 1


def test_rejecting_a_purchase_order_with_goods_received_is_reported_not_retried(
        client, demo, actors, session_factory, as_):
    drain(session_factory)
    order_id = _big_order(session_factory, demo, actors["赵经理"])
    req = _request_of(session_factory, order_id)
    with session_factory() as s:  # goods booked against it before receipts were gated on the approval
        s.get_one(Document, order_id).status = DocStatus.PARTIAL
        s.commit()
    resp = client.post(f"/api/v1/approvals/requests/{req.id}", headers=as_("钱总监"),
                       json={"decision": "reject", "reason": "价格偏高"})
    assert resp.status_code == 200 and resp.get_json()["status"] == "rejected"
    drain(session_factory)
    with session_factory() as s:
        [reaction] = s.scalars(select(HandlerRun).where(HandlerRun.org_id == demo.org_id,
                                                        HandlerRun.handler == "approvals.reject_purchase_order"))
        assert reaction.status == RunStatus.DONE and reaction.attempts == 1
        assert s.get_one(Document, order_id).status == DocStatus.PARTIAL
        notes = list(s.scalars(select(Notification).where(
            Notification.org_id == demo.org_id, Notification.kind == "approval.decided")))
    assert sorted(n.member_id for n in notes) == sorted([demo.members["赵经理"], demo.members["钱总监"]])
    assert all("未能取消" in n.title and "价格偏高" in n.body for n in notes)


def test_updating_a_level_that_had_no_card_does_not_retry_forever(
        client, demo, actors, session_factory, as_, cards_stub):
    drain(session_factory)
    receive(session_factory, demo, actors, "10")
    run(session_factory, create_chain, actors["钱总监"], ChainSpec(  # 吴会计 has no DingTalk account: no card
        "transfer", "会计审批", ({"role": "finance", "timeout_hours": 24},)))
    doc_id = _transfer(client, demo, as_)
    drain(session_factory)
    req = _request_of(session_factory, doc_id)
    assert not [t for t in cards_stub.cards.cards if t.startswith(req.card_track_id)]
    ok = client.post(f"/api/v1/approvals/{doc_id}", headers=as_("钱总监"), json={"decision": "approve"})
    assert ok.status_code == 200 and ok.get_json()["status"] == "approved"
    drain(session_factory)
    with session_factory() as s:
        runs = list(s.scalars(select(HandlerRun).where(HandlerRun.org_id == demo.org_id,
                                                       HandlerRun.handler == "approvals.update_cards")))
    assert [(r.status, r.attempts) for r in runs] == [(RunStatus.DONE, 1)]


@pytest.mark.parametrize("threshold", ["abc", None, "NaN", True, "-5"])
def test_a_broken_po_threshold_setting_falls_back_to_the_default_instead_of_failing_every_order(
        session_factory, demo, actors, threshold):
    from models.org import Org

    with session_factory.begin() as s:
        org = s.get_one(Org, demo.org_id)
        org.settings = {**(org.settings or {}), "po_approval_threshold": threshold}
    big = _big_order(session_factory, demo, actors["赵经理"])  # ¥20,000 ≥ the default ¥10,000
    with session_factory() as s:
        assert s.scalar(select(ApprovalRequest.id).where(ApprovalRequest.document_id == big))


def test_a_legacy_chain_step_naming_a_farmer_is_decided_by_the_director():
    from models.operations.approvals import _snapshot

    assert _snapshot([{"role": "farmer", "timeout_hours": 4}, {"role": "manager"}]) == [
        {"role": "director", "timeout_hours": 4}, {"role": "manager", "timeout_hours": 24}]
