"""Attacks on 首页's actions: another org's ids, a member without the permission, skipping the
director, a replayed double submit, missing CSRF, absurd ids and junk. Each refusal writes nothing."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from models.actor import load_actor
from models.approvals import ApprovalRequest, ApprovalStatus
from models.demo import seed_demo
from models.documents import DocStatus, Document
from models.stock import Freeze
from models.uow import run
from tests.console import conftest as console_fixtures
from tests.console import today_setup as ts
from tests.console.conftest import post
from tests.security.conftest import rows

# the console's fixtures, for this module (tests/security has its own conftest)
console_app = console_fixtures.console_app
console_as = console_fixtures.console_as


def _request(session_factory, document_id):
    with session_factory() as s:
        return s.scalars(select(ApprovalRequest).where(ApprovalRequest.document_id == document_id)).one()


def _refused(client, path, data, engine, code):
    before = rows(engine)
    response = post(client, path, data)
    assert response.status_code == 303, response.get_data(as_text=True)  # back to the page with the reason
    page = client.get("/console/").get_data(as_text=True)
    assert f"（{code}）" in page, page
    assert rows(engine) == before


@pytest.fixture
def other(session_factory):
    org = run(session_factory, seed_demo, f"t-{uuid.uuid4().hex[:12]}")
    with session_factory() as s:
        people = {n: load_actor(s, m) for n, m in org.members.items()}
    return org, people


def test_another_orgs_approval_freeze_suggestion_and_dead_letter_are_not_found(
        console_as, session_factory, engine, other):
    org, people = other
    transfer = ts.requested_transfer(session_factory, org, people)
    request_id = _request(session_factory, transfer.document_id).id
    _receipt, freeze = ts.frozen_lot(session_factory, org, people)
    sug = ts.planning(session_factory, org)["suggestion_id"]
    dead = ts.dead_letter(session_factory, org)
    client = console_as("赵经理")
    _refused(client, f"/console/today/approvals/{request_id}/decide", {"decision": "approve"}, engine, "NOT_FOUND")
    _refused(client, f"/console/today/freezes/{freeze.freeze_id}/lift", {"reason": "x"}, engine, "NOT_FOUND")
    _refused(client, f"/console/today/suggestions/{sug}/accept", {}, engine, "NOT_FOUND")
    _refused(client, f"/console/today/suggestions/{sug}/dismiss", {}, engine, "NOT_FOUND")
    # replaying needs roles: the director, who may replay his own org's, gets NOT_FOUND for another's
    _refused(console_as("钱总监"), f"/console/today/dead-letters/{dead}/replay", {}, engine, "NOT_FOUND")
    with session_factory() as s:
        assert s.get_one(Document, transfer.document_id).status == DocStatus.REQUESTED
        assert s.get_one(Freeze, freeze.freeze_id).active


def test_a_clerk_cannot_approve_lift_accept_or_replay(console_as, session_factory, engine, demo, actors):
    transfer = ts.requested_transfer(session_factory, demo, actors)
    request_id = _request(session_factory, transfer.document_id).id
    _receipt, freeze = ts.frozen_lot(session_factory, demo, actors)
    sug = ts.planning(session_factory, demo)["suggestion_id"]
    dead = ts.dead_letter(session_factory, demo)
    clerk = console_as("小周")
    assert f"待审批调拨 {transfer.number}" not in clerk.get("/console/").get_data(as_text=True)
    _refused(clerk, f"/console/today/approvals/{request_id}/decide", {"decision": "approve"}, engine,
             "PERMISSION_DENIED")
    keeper = console_as("老孙")  # a storekeeper at 总仓/门店: not on the transfer's chain
    _refused(keeper, f"/console/today/approvals/{request_id}/decide", {"decision": "approve"}, engine,
             "PERMISSION_DENIED")
    _refused(clerk, f"/console/today/freezes/{freeze.freeze_id}/lift", {"reason": "想发货"}, engine,
             "PERMISSION_DENIED")
    _refused(clerk, f"/console/today/suggestions/{sug}/accept", {}, engine, "PERMISSION_DENIED")
    _refused(clerk, f"/console/today/dead-letters/{dead}/replay", {}, engine, "PERMISSION_DENIED")
    # a manager reads dead letters, but replaying them stays with directors and admins (issue 10)
    _refused(console_as("赵经理"), f"/console/today/dead-letters/{dead}/replay", {}, engine, "PERMISSION_DENIED")


def test_a_manager_cannot_decide_the_directors_level(console_as, session_factory, engine, demo, actors):
    transfer = ts.requested_transfer(session_factory, demo, actors, urgent=True)  # manager, then director
    req = _request(session_factory, transfer.document_id)
    assert [s["role"] for s in req.steps] == ["manager", "director"]
    client = console_as("赵经理")
    post(client, f"/console/today/approvals/{req.id}/decide", {"decision": "approve", "request_id": uuid.uuid4().hex})
    assert _request(session_factory, transfer.document_id).step == 1
    page = client.get("/console/").get_data(as_text=True)
    assert f"待审批调拨 {transfer.number}" not in page  # the director's level is not his to see as a decision
    before = rows(engine)
    response = post(client, f"/console/today/approvals/{req.id}/decide", {"decision": "approve"})
    assert response.status_code == 303 and rows(engine) == before
    with session_factory() as s:
        assert s.get_one(Document, transfer.document_id).status == DocStatus.REQUESTED
    assert _request(session_factory, transfer.document_id).status == ApprovalStatus.PENDING
    director = console_as("钱总监")
    assert f"待审批调拨 {transfer.number}" in director.get("/console/").get_data(as_text=True)


def test_a_double_submitted_approve_decides_once(console_as, session_factory, engine, demo, actors):
    transfer = ts.requested_transfer(session_factory, demo, actors, urgent=True)
    req = _request(session_factory, transfer.document_id)
    client = console_as("赵经理")
    form = {"decision": "approve", "request_id": uuid.uuid4().hex}
    assert post(client, f"/console/today/approvals/{req.id}/decide", form).status_code == 303
    after_first = rows(engine)
    assert post(client, f"/console/today/approvals/{req.id}/decide", form).status_code == 303  # the same form again
    assert rows(engine) == after_first
    decided = _request(session_factory, transfer.document_id)
    assert decided.step == 1 and len(decided.history) == 1  # one decision, not two levels


def test_a_double_submitted_lift_and_accept_change_nothing_twice(console_as, session_factory, engine, demo, actors):
    _receipt, freeze = ts.frozen_lot(session_factory, demo, actors)
    sug = ts.planning(session_factory, demo)["suggestion_id"]
    client = console_as("赵经理")
    lift = {"reason": "复查正常", "request_id": uuid.uuid4().hex}
    accept = {"request_id": uuid.uuid4().hex}
    post(client, f"/console/today/freezes/{freeze.freeze_id}/lift", lift)
    post(client, f"/console/today/suggestions/{sug}/accept", accept)
    after = rows(engine)
    post(client, f"/console/today/freezes/{freeze.freeze_id}/lift", lift)
    post(client, f"/console/today/suggestions/{sug}/accept", accept)
    assert rows(engine) == after  # one purchase order, one release
    # without the key (a second tab), the operations' state checks refuse
    _refused(client, f"/console/today/suggestions/{sug}/accept", {}, engine, "INVALID_STATE")
    _refused(client, f"/console/today/freezes/{freeze.freeze_id}/lift", {"reason": "再解"}, engine, "INVALID_STATE")


def test_missing_csrf_is_refused(console_as, session_factory, engine, demo, actors):
    transfer = ts.requested_transfer(session_factory, demo, actors)
    req = _request(session_factory, transfer.document_id)
    client = console_as("赵经理")
    before = rows(engine)
    response = client.post(f"/console/today/approvals/{req.id}/decide", data={"decision": "approve"})
    assert response.status_code == 400 and "CSRF_INVALID" in response.get_data(as_text=True)
    assert rows(engine) == before


@pytest.mark.parametrize("path,data,code", [
    ("/console/today/approvals/99999999999999999999999/decide", {"decision": "approve"}, "NOT_FOUND"),
    ("/console/today/freezes/9223372036854775808/lift", {"reason": "x"}, "NOT_FOUND"),
    ("/console/today/dead-letters/0/replay", {}, "NOT_FOUND"),
    ("/console/today/suggestions/9223372036854775807/accept", {}, "NOT_FOUND"),
])
def test_absurd_ids_are_not_found(console_as, engine, path, data, code):
    _refused(console_as("赵经理"), path, data, engine, code)


def test_junk_fields_are_refused(console_as, session_factory, engine, demo, actors):
    transfer = ts.requested_transfer(session_factory, demo, actors)
    req = _request(session_factory, transfer.document_id)
    client = console_as("赵经理")
    path = f"/console/today/approvals/{req.id}/decide"
    _refused(client, path, {"decision": "maybe"}, engine, "VALIDATION_ERROR")
    _refused(client, path, {"decision": "reject", "reason": "长" * 201}, engine, "VALIDATION_ERROR")
    _refused(client, path, {"decision": "approve", "request_id": "<script>"}, engine, "VALIDATION_ERROR")
    assert client.post("/console/today/approvals/abc/decide").status_code in (400, 404)
    with session_factory() as s:
        assert s.get_one(Document, transfer.document_id).status == DocStatus.REQUESTED
