"""A reaction never notifies another organisation's member, whatever id an event's payload names."""

from __future__ import annotations

import uuid

from models.demo import seed_demo
from models.outbox import emit
from models.uow import run
from tests.security.conftest import rows
from workflows.notify import notify_role


def test_a_payload_naming_another_orgs_member_reaches_nobody(session_factory, engine, demo):
    other = run(session_factory, seed_demo, f"t-{uuid.uuid4().hex[:12]}")
    before = rows(engine)
    with session_factory() as session:
        event = emit(session, demo.org_id, "todo.created", {"title": "盘点"})
        session.flush()
        assert notify_role(session, event, "test.notify", "", "新待办", "盘点",
                           member_id=other.members["钱总监"]) == []
        session.flush()
        own = notify_role(session, event, "test.notify", "", "新待办", "盘点", member_id=demo.members["钱总监"])
        assert [n.member_id for n in own] == [demo.members["钱总监"]]
        session.rollback()
    assert rows(engine) == before
