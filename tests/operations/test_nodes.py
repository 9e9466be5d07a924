"""Edge-node registry operations (issue 14, first slice): who may register, which sites, refusals, audit."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from models.actor import Actor
from models.audit import AuditEntry
from models.demo import seed_demo
from models.errors import NodeDuplicate, NotFound, PermissionDenied, ValidationError
from models.nodes import Node, NodeSite
from models.operations.nodes import (
    DeactivateNode,
    RegisterNode,
    RotateNodeKey,
    deactivate_node,
    register_node,
    rotate_node_key,
)
from models.org import Site, SiteKind
from models.outbox import OutboxEvent
from models.queries.nodes import list_nodes
from models.uow import run


def _count(session_factory, org_id: int) -> tuple[int, int, int]:
    with session_factory() as s:
        return (s.scalar(select(func.count()).select_from(Node).where(Node.org_id == org_id)) or 0,
                s.scalar(select(func.count()).select_from(AuditEntry).where(
                    AuditEntry.org_id == org_id, AuditEntry.entity == "node")) or 0,
                s.scalar(select(func.count()).select_from(OutboxEvent).where(
                    OutboxEvent.org_id == org_id, OutboxEvent.kind.like("node.%"))) or 0)


def test_director_registers_a_node_audited_and_announced_key_kept_out(session_factory, demo, actors):
    issued = run(session_factory, register_node, actors["钱总监"],
                 RegisterNode("SX1", (demo.sites["SX"], demo.sites["ZC"]), name="绍兴节点"))
    assert len(issued.key) == 43 and issued.code == "SX1"
    with session_factory() as s:
        node = s.get(Node, issued.node_id)
        assert node.key == issued.key and node.active and node.rows_up == 0 and node.rows_down == 0
        assert node.created_by == demo.members["钱总监"]
        assert sorted(s.scalars(select(NodeSite.site_id).where(NodeSite.node_id == node.id))) == sorted(
            [demo.sites["SX"], demo.sites["ZC"]])
        audit = s.scalars(select(AuditEntry).where(AuditEntry.org_id == demo.org_id,
                                                   AuditEntry.action == "node.register")).one()
        event = s.scalars(select(OutboxEvent).where(OutboxEvent.org_id == demo.org_id,
                                                    OutboxEvent.kind == "node.registered")).one()
        # The key is never in the audit log or the outbox.
        assert issued.key not in str(audit.after) and issued.key not in str(event.payload)
        assert audit.after["code"] == "SX1" and event.payload["node_id"] == node.id
    with session_factory() as s:
        lines = list_nodes(s, actors["赵经理"])
    assert [(n.code, n.lag_seconds, [s.code for s in n.sites]) for n in lines] == [("SX1", None, ["SX", "ZC"])]
    assert "key" not in lines[0].to_dict()


def test_a_clerk_may_not_register_and_nothing_is_written(session_factory, demo, actors):
    before = _count(session_factory, demo.org_id)
    with pytest.raises(PermissionDenied):
        run(session_factory, register_node, actors["小周"], RegisterNode("SX1", (demo.sites["SX"],)))
    assert _count(session_factory, demo.org_id) == before


@pytest.mark.parametrize("code", ["", "sx1", "TOOLONG99", "SX-1", "一号", "SX1\n", "ＳＸ１"])
def test_a_bad_code_is_refused(session_factory, demo, actors, code):
    with pytest.raises(ValidationError) as err:
        run(session_factory, register_node, actors["钱总监"], RegisterNode(code, (demo.sites["SX"],)))
    assert err.value.details["field"] == "code" and "大写字母或数字" in err.value.message
    assert _count(session_factory, demo.org_id) == (0, 0, 0)


def test_a_duplicate_code_is_refused_and_the_first_key_stands(session_factory, demo, actors):
    first = run(session_factory, register_node, actors["钱总监"], RegisterNode("ZC", (demo.sites["ZC"],)))
    with pytest.raises(NodeDuplicate) as err:
        run(session_factory, register_node, actors["钱总监"], RegisterNode("ZC", (demo.sites["SX"],)))
    assert err.value.code == "NODE_DUPLICATE" and err.value.http_status == 409 and "已存在" in err.value.message
    assert _count(session_factory, demo.org_id) == (1, 1, 1)
    with session_factory() as s:
        assert s.get(Node, first.node_id).key == first.key


def test_another_orgs_site_is_refused(session_factory, demo, actors):
    other = run(session_factory, seed_demo, f"t-{uuid.uuid4().hex[:12]}")
    with pytest.raises(NotFound):
        run(session_factory, register_node, actors["钱总监"], RegisterNode("SX1", (other.sites["SX"],)))
    with pytest.raises(ValidationError, match="1 到"):
        run(session_factory, register_node, actors["钱总监"], RegisterNode("SX1", ()))
    assert _count(session_factory, demo.org_id) == (0, 0, 0)


def test_an_in_transit_site_is_refused(session_factory, demo, actors):
    with session_factory() as s:
        road = Site(org_id=demo.org_id, code="ROAD1", name="在途·绍兴→总仓", kind=SiteKind.IN_TRANSIT)
        s.add(road)
        s.commit()
        road_id = road.id
    with pytest.raises(ValidationError, match="在途地点"):
        run(session_factory, register_node, actors["钱总监"], RegisterNode("SX1", (demo.sites["SX"], road_id)))
    assert _count(session_factory, demo.org_id) == (0, 0, 0)


def test_rotate_and_deactivate_are_audited_and_need_the_roles_permission(session_factory, demo, actors):
    issued = run(session_factory, register_node, actors["钱总监"], RegisterNode("MD", (demo.sites["MD"],)))
    for who in ("小周", "赵经理"):
        with pytest.raises(PermissionDenied):
            run(session_factory, rotate_node_key, actors[who], RotateNodeKey(issued.node_id))
        with pytest.raises(PermissionDenied):
            run(session_factory, deactivate_node, actors[who], DeactivateNode(issued.node_id))
    rotated = run(session_factory, rotate_node_key, actors["钱总监"], RotateNodeKey(issued.node_id))
    assert rotated.key != issued.key
    assert run(session_factory, deactivate_node, actors["钱总监"], DeactivateNode(issued.node_id)).active is False
    assert run(session_factory, deactivate_node, actors["钱总监"], DeactivateNode(issued.node_id)).active is False
    with session_factory() as s:
        assert s.get(Node, issued.node_id).key == rotated.key
        actions = list(s.scalars(select(AuditEntry.action).where(
            AuditEntry.org_id == demo.org_id, AuditEntry.entity == "node").order_by(AuditEntry.id)))
        assert actions == ["node.register", "node.rotate_key", "node.deactivate"]  # the second stop: no row
        assert all(rotated.key not in str(a.after) for a in s.scalars(
            select(AuditEntry).where(AuditEntry.org_id == demo.org_id, AuditEntry.entity == "node")))


def test_another_orgs_node_cannot_be_rotated(session_factory, demo, actors):
    other = run(session_factory, seed_demo, f"t-{uuid.uuid4().hex[:12]}")
    theirs = run(session_factory, register_node, Actor.system_actor(other.org_id),
                 RegisterNode("SX1", (other.sites["SX"],)))
    with pytest.raises(NotFound):
        run(session_factory, rotate_node_key, actors["钱总监"], RotateNodeKey(theirs.node_id))
    with pytest.raises(NotFound):
        run(session_factory, deactivate_node, actors["钱总监"], DeactivateNode(theirs.node_id))
