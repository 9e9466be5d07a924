"""Issue 10, findings 2, 7, 8 (receipt gate) and 9: receipts cannot set prices, skip QC or backdate.

Each test replays the attack as it was seen (mostly through the offline sync queue, where a refused
entry comes back as a ``conflict`` with the error's code and message) and checks nothing was written.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from models.approvals import ApprovalRequest, ApprovalStatus
from models.base import utcnow
from models.documents import DocKind, DocStatus, Document
from models.errors import BusinessTimeOutOfWindow, SecondPersonRequired
from models.finance import FarmerSettlement, Voucher
from models.infra import AuditEntry
from models.operations import CreateOrder, OrderLineIn, RecordQc, create_order, record_qc
from models.operations.intake import ConfirmIntake, CreateIntake, confirm_intake, create_intake
from models.operations.receiving import ConfirmDraftReceipt, ReceiveGoods, confirm_draft_receipt, receive_goods
from models.stock import StockMove
from models.uow import run
from tests.factories import assert_books_ok
from tests.security.conftest import assert_refused, rows


def _op(body, business_time=None):
    op = {"client_id": str(uuid.uuid4()), "kind": "receive", "body": body}
    if business_time is not None:
        op["business_time"] = business_time.isoformat()
    return op


def _leaf(demo, qty="10", **extra):
    """茶青 一级 (80 元/公斤) from 王阿姨 at 绍兴收购点, in 公斤."""
    return {"site_id": demo.sites["SX"], "item_id": demo.items["茶青"], "quantity": qty, "unit": "公斤",
            "party_id": demo.parties["王阿姨"], "grade_id": demo.grades["一级"], **extra}


def _sync_one(client, headers, op):
    r = client.post("/api/v1/sync", headers=headers, json={"operations": [op]})
    assert r.status_code == 200, r.get_data(as_text=True)
    [result] = r.get_json()["results"]
    return result


def _conflict(result, code, message_part):
    assert result["status"] == "conflict", result
    assert result["error"]["code"] == code, result
    assert message_part in result["error"]["message"], result
    return result["error"]


def _count(session_factory, model, *where):
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


# --- finding 2: prices -------------------------------------------------------------------------

def test_clerk_price_override_through_sync_is_refused_and_writes_nothing(client, as_, demo, engine):
    before = rows(engine)
    result = _sync_one(client, as_("小周"), _op(_leaf(demo, unit_price="100000")))
    error = _conflict(result, "PRICE_OVERRIDE_DENIED", "没有改价权限")
    assert error["details"]["reference_price"] == "80"
    # Even with a reason: a clerk has no price permission.
    result = _sync_one(client, as_("小周"), _op(_leaf(demo, unit_price="100000", price_reason="老客户")))
    _conflict(result, "PRICE_OVERRIDE_DENIED", "没有改价权限")
    assert rows(engine) == before


def test_manager_override_needs_a_reason_and_is_audited(client, as_, demo, engine, session_factory):
    before = rows(engine)
    result = _sync_one(client, as_("赵经理"), _op(_leaf(demo, unit_price="90")))
    _conflict(result, "PRICE_OVERRIDE_DENIED", "改价须写明原因")
    assert rows(engine) == before

    result = _sync_one(client, as_("赵经理"), _op(_leaf(demo, unit_price="90", price_reason="芽头特别匀整")))
    assert result["status"] == "applied", result
    assert D(result["result"]["total"]) == D("900.00") and result["result"]["status"] == "posted"
    with session_factory() as s:
        [audit] = s.scalars(select(AuditEntry).where(AuditEntry.org_id == demo.org_id,
                                                     AuditEntry.action == "receipt.price_override"))
        assert audit.actor_id == demo.members["赵经理"] and audit.reason == "芽头特别匀整"
        assert audit.entity_id == str(result["result"]["document_id"])
        assert (audit.before, audit.after["unit_price"]) == ({"unit_price": "80"}, "90")


def test_the_grade_price_needs_no_permission_and_leaves_no_override_audit(client, as_, demo, session_factory):
    result = _sync_one(client, as_("小周"), _op(_leaf(demo, unit_price="80")))
    assert result["status"] == "applied" and D(result["result"]["total"]) == D("800.00"), result
    assert _count(session_factory, AuditEntry, AuditEntry.org_id == demo.org_id,
                  AuditEntry.action == "receipt.price_override") == 0


# --- finding 2: plausibility limits, a second person -------------------------------------------

def test_a_farmers_own_4999_kg_intake_is_a_draft_the_same_member_cannot_confirm(
        session_factory, demo, actors, engine):
    farmer = actors["王阿姨"]
    view = run(session_factory, create_intake, farmer, CreateIntake(
        site_id=demo.sites["SX"], grade_id=demo.grades["一级"], typed_weight="4999", typed_unit="公斤"))
    assert "NEEDS_SECOND_PERSON" in [w["code"] for w in view.warnings]
    note = run(session_factory, confirm_intake, farmer, ConfirmIntake(view.draft_id))
    assert note.status == "draft" and note.prepayment == D(0)
    # Nothing is owed or in stock yet: no move, no voucher, no settlement.
    assert _count(session_factory, StockMove, StockMove.org_id == demo.org_id) == 0
    assert _count(session_factory, Voucher, Voucher.org_id == demo.org_id) == 0
    assert _count(session_factory, FarmerSettlement, FarmerSettlement.org_id == demo.org_id) == 0
    assert_books_ok(session_factory, demo.org_id)  # a draft is not a posted document without a voucher

    before = rows(engine)
    with pytest.raises(SecondPersonRequired) as exc:
        run(session_factory, confirm_draft_receipt, farmer, ConfirmDraftReceipt(note.document_id))
    assert exc.value.code == "SECOND_PERSON_REQUIRED" and "另一位收货员" in exc.value.message
    assert rows(engine) == before

    posted = run(session_factory, confirm_draft_receipt, actors["小周"], ConfirmDraftReceipt(note.document_id))
    assert (posted.status, posted.total, posted.prepayment) == ("posted", D("399920.00"), D("279944.00"))
    with session_factory() as s:
        doc = s.get_one(Document, note.document_id)
        assert (doc.status, doc.created_by, doc.decided_by) == (
            DocStatus.POSTED, demo.members["王阿姨"], demo.members["小周"])
    assert _count(session_factory, FarmerSettlement, FarmerSettlement.org_id == demo.org_id) == 1
    assert_books_ok(session_factory, demo.org_id)


def test_a_clerks_large_sync_receipt_waits_for_another_member(client, as_, demo, engine, session_factory, actors):
    result = _sync_one(client, as_("小周"), _op(_leaf(demo, qty="1500")))
    assert result["status"] == "applied" and result["result"]["status"] == "draft", result
    assert result["result"]["voucher_number"] is None and result["result"]["lot_id"] is None
    doc_id = result["result"]["document_id"]
    assert _count(session_factory, StockMove, StockMove.org_id == demo.org_id) == 0

    before = rows(engine)
    r = client.post(f"/api/v1/receipts/{doc_id}/confirm", headers=as_("小周"))
    assert_refused(r, 403, "SECOND_PERSON_REQUIRED", "另一位收货员")
    r = client.post(f"/api/v1/receipts/{doc_id}/confirm", headers=as_("王阿姨"))  # no receive permission
    assert_refused(r, 403, "PERMISSION_DENIED", "没有权限")
    assert rows(engine) == before
    r = client.post(f"/api/v1/receipts/{doc_id}/confirm", headers=as_("赵经理"))
    assert r.status_code == 200, r.get_json()
    posted = r.get_json()
    assert posted["status"] == "posted" and D(posted["total"]) == D("120000.00") and posted["lot_id"] is not None
    assert _count(session_factory, StockMove, StockMove.org_id == demo.org_id) == 1
    r = client.post(f"/api/v1/receipts/{doc_id}/confirm", headers=as_("钱总监"))  # posted once only
    assert_refused(r, 409, "INVALID_STATE", "不是待确认的入库草稿")
    assert _count(session_factory, StockMove, StockMove.org_id == demo.org_id) == 1


# --- finding 7: QC bypass, dates ---------------------------------------------------------------

def test_goods_cannot_join_a_lot_that_passed_qc(client, as_, demo, engine, session_factory, actors):
    first = _sync_one(client, as_("小周"), _op(_leaf(demo, qty="5", lot_code="L-QC-1")))
    assert first["status"] == "applied", first
    run(session_factory, record_qc, actors["赵经理"], RecordQc(first["result"]["lot_id"], passed=True))

    before = rows(engine)
    result = _sync_one(client, as_("小周"), _op(_leaf(demo, qty="50", lot_code="L-QC-1")))
    error = _conflict(result, "LOT_ALREADY_CHECKED", "已质检")
    assert error["details"]["lot_code"] == "L-QC-1"
    assert rows(engine) == before
    # A new lot code is fine: those goods wait for their own check.
    other = _sync_one(client, as_("小周"), _op(_leaf(demo, qty="50", lot_code="L-QC-2")))
    assert other["status"] == "applied" and other["result"]["lot_id"] != first["result"]["lot_id"]


def test_expiry_before_production_is_refused(client, as_, demo, engine):
    today = datetime.now(UTC).date()
    before = rows(engine)
    result = _sync_one(client, as_("小周"), _op(_leaf(
        demo, produced_on=(today - timedelta(days=1)).isoformat(), expires_on=(today - timedelta(days=2)).isoformat())))
    error = _conflict(result, "VALIDATION_ERROR", "到期日期不能早于生产日期")
    assert error["details"]["field"] == "expires_on"
    assert rows(engine) == before


# --- finding 9: business time window -----------------------------------------------------------

def test_a_receipt_dated_2001_is_refused(client, as_, demo, engine):
    before = rows(engine)
    result = _sync_one(client, as_("小周"), _op(_leaf(demo), datetime(2001, 1, 1, 2, tzinfo=UTC)))
    error = _conflict(result, "BUSINESS_TIME_OUT_OF_WINDOW", "补录须有补录权限")
    assert error["details"]["field"] == "business_time"
    # Eight days back is past the 7-day window for a clerk, too.
    result = _sync_one(client, as_("小周"), _op(_leaf(demo), utcnow() - timedelta(days=8)))
    _conflict(result, "BUSINESS_TIME_OUT_OF_WINDOW", "业务时间早于 7 天前")
    assert rows(engine) == before
    # Within the window it is an ordinary offline entry.
    result = _sync_one(client, as_("小周"), _op(_leaf(demo), utcnow() - timedelta(days=6)))
    assert result["status"] == "applied", result


def test_backdating_past_the_window_needs_the_backdate_permission(client, as_, demo, session_factory, actors):
    eight_days = utcnow() - timedelta(days=8)
    result = _sync_one(client, as_("钱总监"), _op(_leaf(demo), eight_days))
    assert result["status"] == "applied", result
    # Before 2000 is before anything this system books: refused even for the director.
    with pytest.raises(BusinessTimeOutOfWindow) as exc:
        run(session_factory, receive_goods, actors["钱总监"], ReceiveGoods(
            site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=D(1), party_id=demo.parties["王阿姨"],
            grade_id=demo.grades["一级"], business_time=datetime(1999, 12, 31, tzinfo=UTC)))
    assert exc.value.code == "BUSINESS_TIME_OUT_OF_WINDOW" and "业务时间早于" in exc.value.message


def test_a_shipment_dated_2001_is_refused_over_http(client, as_, demo, engine):
    before = rows(engine)
    r = client.post("/api/v1/shipments", headers={**as_("小周"), "Idempotency-Key": str(uuid.uuid4())}, json={
        "site_id": demo.sites["SX"], "item_id": demo.items["茶青"], "quantity": "1",
        "party_id": demo.parties["杭州茶城"], "business_time": "2001-01-01T10:00:00+08:00"})
    assert_refused(r, 422, "BUSINESS_TIME_OUT_OF_WINDOW", "补录须有补录权限")
    assert rows(engine) == before


# --- finding 8: a purchase order awaiting approval receives nothing ----------------------------

def test_goods_against_a_purchase_order_awaiting_approval_are_refused(client, as_, demo, engine, session_factory,
                                                                      actors):
    order = run(session_factory, create_order, actors["赵经理"], CreateOrder(
        DocKind.PURCHASE_ORDER, demo.sites["ZC"], demo.parties["包装厂"],
        (OrderLineIn(demo.items["龙井"], D(100), unit_price=D(30)),)))
    with session_factory() as s:
        req = s.scalar(select(ApprovalRequest).where(ApprovalRequest.doc_kind == "purchase_order",
                                                     ApprovalRequest.document_id == order.document_id))
        if req is None:  # the director-only chain of the attack, whatever this org's thresholds are
            req = ApprovalRequest(org_id=demo.org_id, doc_kind="purchase_order", document_id=order.document_id,
                                  steps=[{"role": "director"}], step=0, status=ApprovalStatus.PENDING)
            s.add(req)
        req.status = ApprovalStatus.PENDING
        s.commit()
    body = {"site_id": demo.sites["ZC"], "item_id": demo.items["龙井"], "quantity": "100",
            "purchase_order_id": order.document_id}
    before = rows(engine)
    result = _sync_one(client, as_("老孙"), _op(body))
    error = _conflict(result, "APPROVAL_PENDING", "采购单尚未审批通过")
    assert error["details"]["number"] == order.number
    assert rows(engine) == before

    with session_factory() as s:
        s.scalar(select(ApprovalRequest).where(ApprovalRequest.document_id == order.document_id)).status = \
            ApprovalStatus.APPROVED
        s.commit()
    result = _sync_one(client, as_("老孙"), _op(body))
    assert result["status"] == "applied" and D(result["result"]["total"]) == D("3000.00"), result


def test_a_mistyped_large_entry_can_be_cancelled_but_never_posted_afterwards(client, as_, demo, engine,
                                                                             session_factory):
    result = _sync_one(client, as_("小周"), _op(_leaf(demo, qty="4999")))  # meant 49.99
    doc_id = result["result"]["document_id"]
    before = rows(engine)
    r = client.post(f"/api/v1/receipts/{doc_id}/cancel", headers=as_("王阿姨"), json={"reason": "多打了两位"})
    assert_refused(r, 403, "PERMISSION_DENIED", "没有权限")
    assert rows(engine) == before
    r = client.post(f"/api/v1/receipts/{doc_id}/cancel", headers=as_("小周"), json={"reason": "多打了两位"})
    assert r.status_code == 200 and r.get_json()["status"] == "cancelled", r.get_json()
    r = client.post(f"/api/v1/receipts/{doc_id}/confirm", headers=as_("赵经理"))
    assert_refused(r, 409, "INVALID_STATE", "不是待确认的入库草稿")
    assert _count(session_factory, StockMove, StockMove.org_id == demo.org_id) == 0
    assert _count(session_factory, AuditEntry, AuditEntry.org_id == demo.org_id,
                  AuditEntry.action == "receipt.cancel_draft") == 1
    assert_books_ok(session_factory, demo.org_id)


def test_a_draft_receipt_asks_the_people_who_may_receive_there_but_not_its_author(session_factory, demo, actors):
    """Above the review limit nothing is posted, and the second person is told (their chat and 待办 inbox)."""
    from models.actor import Permission
    from models.event_log import Notification
    from tests.factories import drain

    draft = run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=D(1200),
        party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"]))
    assert draft.status == "draft"
    drain(session_factory)
    with session_factory() as s:
        told = set(s.scalars(select(Notification.member_id).where(
            Notification.org_id == demo.org_id, Notification.kind == "receipt.drafted")))
    expected = {demo.members[name] for name, a in actors.items()
                if name not in ("小周", "系统") and a.can(Permission.RECEIVE, demo.sites["SX"])}
    assert told == expected and demo.members["赵经理"] in told and demo.members["老孙"] not in told


def test_a_draft_is_posted_at_the_price_it_was_entered_and_reviewed_at(session_factory, engine, demo, actors):
    """The grade's price changing between draft and confirmation changes neither the books nor the paper."""
    from models.finance import VoucherLine
    from models.operations import SetGradePrice, set_grade_price

    draft = run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=D(1200),
        party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"]))
    run(session_factory, set_grade_price, actors["赵经理"],
        SetGradePrice(demo.grades["一级"], D(90), reason="今日行情"))
    posted = run(session_factory, confirm_draft_receipt, actors["赵经理"], ConfirmDraftReceipt(draft.document_id))
    assert posted.total == draft.total == D("96000.00")  # 1,200 kg × 80, not × 90
    with session_factory() as s:
        doc = s.get_one(Document, draft.document_id)
        assert (doc.total_amount, doc.lines[0].unit_price, doc.lines[0].amount) == (D("96000.00"), D(80), D("96000.00"))
        settlement = s.scalar(select(FarmerSettlement).where(FarmerSettlement.receipt_id == doc.id))
        assert settlement.total == D("96000.00")
        debit = s.scalar(select(func.sum(VoucherLine.debit)).join(Voucher).where(Voucher.document_id == doc.id))
        assert debit == D("96000.00")
    assert_books_ok(session_factory, demo.org_id)


# --- the posting writer (issue 11): the catalog snapshot is one organisation's, replays write once ---------

@pytest.mark.parametrize("field", ["site_id", "item_id", "party_id", "grade_id"])
def test_another_orgs_ids_find_nothing_and_write_nothing(client, as_, demo, engine, session_factory, field):
    """Sites, items, parties and grades now come from the org's cached catalog snapshot: another
    co-operative's id is NOT_FOUND there, as it was through the ORM, and nothing is written."""
    from models.demo import seed_demo

    other = run(session_factory, seed_demo, f"o-{uuid.uuid4().hex[:8]}")
    theirs = {"site_id": other.sites["SX"], "item_id": other.items["茶青"], "party_id": other.parties["王阿姨"],
              "grade_id": other.grades["一级"]}[field]
    before = rows(engine)
    result = _sync_one(client, as_("小周"), _op(_leaf(demo, **{field: theirs})))
    _conflict(result, "NOT_FOUND", "找不到")
    assert rows(engine) == before


def test_a_replayed_receipt_writes_once_and_answers_the_same_number(client, as_, demo, engine):
    op = _op(_leaf(demo, qty="12"))
    first = _sync_one(client, as_("小周"), op)
    assert first["status"] == "applied" and first["result"]["number"].startswith("RK-SX-")
    after_first = rows(engine)
    again = _sync_one(client, as_("小周"), op)
    assert again["status"] == "already_applied" and again["result"]["number"] == first["result"]["number"]
    assert rows(engine) == after_first


@pytest.mark.parametrize("quantity", ["1000001", "-5", "0", "1e400"])
def test_absurd_receipt_quantities_are_refused_and_write_nothing(client, as_, demo, engine, quantity):
    before = rows(engine)
    result = _sync_one(client, as_("小周"), _op(_leaf(demo, qty=quantity)))
    assert result["status"] == "conflict" and result["error"]["code"] in ("INVALID_QUANTITY", "VALIDATION_ERROR")
    assert rows(engine) == before
