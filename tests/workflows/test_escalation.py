"""To-dos remind before the deadline and escalate along their chain, on a controllable clock."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from sqlalchemy import select

import workflows.handlers  # noqa: F401  (register relay handlers)
from models.event_log import Notification
from models.operations import ReceiveGoods, RecordQc, receive_goods, record_qc
from models.operations.todos import CreateTodo, complete_todo, create_todo, scan_todos
from models.stock import Freeze
from models.tasks import TaskStatus, Todo
from models.uow import run
from tests.factories import drain
from workflows.clock import Clock


def _notes(session_factory, org_id, kind):
    with session_factory() as session:
        return list(session.scalars(select(Notification).where(Notification.org_id == org_id,
                                                               Notification.kind == kind)))


def scan(session_factory, now, org_id):
    """Run the beat scan (it covers every organisation) and keep what happened in this test's org."""
    return [(what, t) for what, t in run(session_factory, scan_todos, now) if t.org_id == org_id]


def test_todo_reminds_then_escalates_at_each_deadline(session_factory, demo):
    clock = Clock()
    start = clock.freeze()
    todo = run(session_factory, create_todo, demo.org_id, CreateTodo(
        title="复核冷库温度", due_in_hours=4, assignee_role="storekeeper", remind_before_minutes=(60,),
        chain=({"after_hours": 4, "role": "manager"}, {"after_hours": 48, "role": "director"})), now=start)
    assert scan(session_factory, clock.advance(timedelta(hours=2, minutes=59)), demo.org_id) == []
    [(what, _)] = scan(session_factory, clock.advance(timedelta(minutes=1)), demo.org_id)
    assert what == "reminder"
    assert scan(session_factory, clock.advance(timedelta(minutes=59, seconds=59)), demo.org_id) == []
    [(what, _)] = scan(session_factory, clock.advance(timedelta(seconds=1)), demo.org_id)  # exactly 4 h
    assert what == "escalated"
    assert scan(session_factory, clock.now(), demo.org_id) == []  # a second beat at the same instant: nothing
    [(what, _)] = scan(session_factory, start + timedelta(hours=48), demo.org_id)
    drain(session_factory)
    with session_factory() as session:
        todo = session.get(Todo, todo.id)
        assert todo.level == 2 and todo.assignee_role == "director" and todo.next_check_at is None
        assert [h["what"] for h in todo.history] == ["created", "escalated", "escalated"]
        assert [h.get("to_role") for h in todo.history[1:]] == ["manager", "director"]
    assert {n.member_id for n in _notes(session_factory, demo.org_id, "todo.escalated")} == {
        demo.members["赵经理"], demo.members["钱总监"]}
    assert {n.member_id for n in _notes(session_factory, demo.org_id, "todo.reminder")} == {demo.members["老孙"]}


def test_a_done_todo_never_escalates(session_factory, demo, actors):
    clock = Clock()
    start = clock.freeze()
    todo = run(session_factory, create_todo, demo.org_id, CreateTodo(
        title="盘点门店", due_in_hours=1, assignee_role="storekeeper", chain=({"after_hours": 2, "role": "manager"},)),
        now=start)
    run(session_factory, complete_todo, actors["老孙"], todo.id, now=start + timedelta(minutes=30))
    assert scan(session_factory, start + timedelta(hours=3), demo.org_id) == []


def test_qc_failure_freezes_and_puts_todos_to_purchasing_qa_and_supplier_then_director(
        session_factory, demo, actors):
    receipt = run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal(10), unit="公斤",
        party_id=demo.parties["李大伯"], grade_id=demo.grades["一级"]))
    run(session_factory, record_qc, actors["赵经理"], RecordQc(lot_id=receipt.lot_id, passed=False, note="农残超标"))
    drain(session_factory)
    drain(session_factory)
    with session_factory() as session:
        assert session.scalar(select(Freeze).where(Freeze.lot_id == receipt.lot_id, Freeze.active.is_(True)))
        todos = list(session.scalars(select(Todo).where(Todo.lot_id == receipt.lot_id).order_by(Todo.id)))
        assert [(t.assignee_role, t.party_id) for t in todos] == [
            ("purchaser", None), ("qa", None), (None, demo.parties["李大伯"])]
        created = max(t.created_at for t in todos)
    escalated = scan(session_factory, created + timedelta(hours=48), demo.org_id)
    assert sorted(what for what, _ in escalated).count("escalated") == 3
    with session_factory() as session:
        assert {t.assignee_role for t in session.scalars(select(Todo).where(Todo.lot_id == receipt.lot_id))} == {
            "director"}
        assert all(t.status == TaskStatus.OPEN for t in session.scalars(select(Todo).where(
            Todo.lot_id == receipt.lot_id)))


def test_emergency_transfer_escalates_to_the_next_approver_after_two_hours(session_factory, demo, actors):
    from models.operations import RequestTransfer, TransferLineIn, request_transfer

    transfer = run(session_factory, request_transfer, actors["小周"], RequestTransfer(
        from_site_id=demo.sites["SX"], to_site_id=demo.sites["MD"],
        lines=(TransferLineIn(demo.items["茶青"], Decimal(3), "公斤"),), urgent=True))
    drain(session_factory)
    with session_factory() as session:
        [todo] = session.scalars(select(Todo).where(Todo.document_id == transfer.document_id))
        assert (todo.kind, todo.assignee_role) == ("approval", "manager")
        assert todo.due_at - todo.created_at == timedelta(hours=2)
        start = todo.created_at
    assert [w for w, _ in scan(session_factory, start + timedelta(hours=1, minutes=59), demo.org_id)] == ["reminder"]
    assert "escalated" in [w for w, _ in scan(session_factory, start + timedelta(hours=2), demo.org_id)]
    drain(session_factory)
    [note] = [n for n in _notes(session_factory, demo.org_id, "todo.escalated") if transfer.number in n.title]
    assert note.member_id == demo.members["钱总监"]


def test_a_big_purchase_order_goes_through_its_chain_and_a_rejection_cancels_it(session_factory, demo, actors):
    from models.actor import load_actor
    from models.approvals import ApprovalRequest
    from models.documents import DocKind, DocStatus, Document
    from models.operations import CreateMember, CreateOrder, OrderLineIn, create_member, create_order
    from models.operations.approvals import DecideApproval, decide_approval
    from models.org import Role

    # A purchaser places the orders: nobody on the chain decides an order of their own.
    purchaser_id = run(session_factory, create_member, actors["钱总监"], CreateMember(
        "孙采购", roles=((Role.PURCHASER, None),)))
    with session_factory() as session:
        purchaser = load_actor(session, purchaser_id)
    small = run(session_factory, create_order, purchaser, CreateOrder(
        DocKind.PURCHASE_ORDER, demo.sites["ZC"], demo.parties["包装厂"],
        (OrderLineIn(demo.items["龙井"], Decimal(10), None, Decimal(20)),)))
    big = run(session_factory, create_order, purchaser, CreateOrder(
        DocKind.PURCHASE_ORDER, demo.sites["ZC"], demo.parties["包装厂"],
        (OrderLineIn(demo.items["龙井"], Decimal(1000), None, Decimal(20)),)))
    drain(session_factory)
    with session_factory() as session:
        assert session.scalar(select(ApprovalRequest).where(ApprovalRequest.document_id == small.document_id)) is None
        req = session.scalar(select(ApprovalRequest).where(ApprovalRequest.document_id == big.document_id))
        assert [s["role"] for s in req.steps] == ["manager", "director"]
    view = run(session_factory, decide_approval, actors["赵经理"], DecideApproval(req.id, True))
    assert view.step == 1 and not view.final
    view = run(session_factory, decide_approval, actors["钱总监"], DecideApproval(req.id, False, "价格偏高"))
    assert view.status == "rejected"
    drain(session_factory)
    with session_factory() as session:
        assert session.get(Document, big.document_id).status == DocStatus.CANCELLED
