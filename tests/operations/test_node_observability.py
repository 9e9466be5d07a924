"""Per-node sync figures (issue 14 §6): lag in seconds and rows, last contact, rows up/down, open
conflicts in the nodes query (GET /api/v1/nodes), event health (and /metrics); the open-conflict list
with both sides' facts, the rule, the proposal and the to-do. Never another organisation's."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from models.actor import Actor
from models.demo import seed_demo
from models.errors import PermissionDenied
from models.nodes import ConflictStatus, Node, SyncConflict
from models.operations.nodes import RegisterNode, register_node
from models.operations.todos import CreateTodo, create_todo
from models.queries.event_health import event_health, org_event_health
from models.queries.nodes import list_nodes, open_conflicts
from models.uow import run
from workflows.health import prometheus_text

NOW = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)


def seed_node(session_factory: sessionmaker[Session], org_id: int, code: str, site: int, *,
              contact: datetime | None = NOW - timedelta(seconds=90), pending: int = 7, up: int = 120, down: int = 40,
              conflicts: tuple[tuple[str, ConflictStatus], ...] = (("oversold", ConflictStatus.OPEN),)) -> int:
    """A node of ``org_id`` with its figures and conflicts (each with a to-do, as the exchange opens them)."""
    node_id = run(session_factory, register_node, Actor.system_actor(org_id), RegisterNode(code, (site,))).node_id
    with session_factory() as s, s.begin():
        n = s.get(Node, node_id)
        n.last_contact_at, n.pending_up, n.rows_up, n.rows_down = contact, pending, up, down
        for i, (rule, status) in enumerate(conflicts):
            todo = create_todo(s, org_id, CreateTodo(title=f"站点节点 {code} 同步冲突：余量不足", due_in_hours=24,
                                                     assignee_role="manager", body=f"{code} 盘点核实后补差 {i + 3}",
                                                     kind="node_conflict"))
            s.add(SyncConflict(org_id=org_id, node_id=node_id, rule=rule, row_key=uuid.uuid4().hex, todo_id=todo.id,
                               status=status, facts={
                                   "node": {"code": code, "move_id": uuid.uuid4().hex, "quantity": f"-{i + 5}",
                                            "document_id": None, "business_time": "2026-12-04T02:00:00+00:00"},
                                   "headquarters": {"on_hand_after": f"-{i + 3}", "qc_status": "pending",
                                                    "freeze": None},
                                   "proposal": {"kind": "adjustment", "text": f"{code} 盘点核实后补差 {i + 3}"}}))
    return node_id


@pytest.fixture
def two_orgs(session_factory, demo):
    other = run(session_factory, seed_demo, f"t-{uuid.uuid4().hex[:12]}")
    seed_node(session_factory, demo.org_id, "SX1", demo.sites["SX"],
              conflicts=(("oversold", ConflictStatus.OPEN), ("lot_blocked", ConflictStatus.OPEN),
                         ("oversold", ConflictStatus.RESOLVED)))
    seed_node(session_factory, demo.org_id, "MD1", demo.sites["MD"], contact=None, pending=0, up=0, down=0,
              conflicts=())
    seed_node(session_factory, other.org_id, "THEIRS", other.sites["SX"], pending=99)
    return other


def test_the_nodes_query_gives_each_nodes_lag_rows_and_open_conflicts(session_factory, demo, actors, two_orgs):
    with session_factory() as s:
        lines = list_nodes(s, actors["赵经理"], now=NOW)
    assert [n.code for n in lines] == ["MD1", "SX1"]
    md1, sx1 = lines
    assert (sx1.lag_seconds, sx1.lag_rows, sx1.rows_up, sx1.rows_down, sx1.conflicts_open) == (90, 7, 120, 40, 2)
    assert sx1.last_contact_at == NOW - timedelta(seconds=90)
    assert (md1.lag_seconds, md1.last_contact_at, md1.lag_rows, md1.conflicts_open) == (None, None, 0, 0)
    api = sx1.to_dict()
    assert api["lag_rows"] == 7 and api["conflicts_open"] == 2 and api["lag_seconds"] == 90 and "key" not in api


def test_open_conflicts_carry_both_sides_the_rule_the_proposal_and_the_todo(session_factory, demo, actors, two_orgs):
    with session_factory() as s:
        found = open_conflicts(s, actors["赵经理"])
    assert sorted(c.rule for c in found) == ["lot_blocked", "oversold"]  # the resolved one is left out
    assert {c.node_code for c in found} == {"SX1"}  # never THEIRS
    c = next(c for c in found if c.rule == "oversold")
    assert c.node_facts["quantity"] == "-5" and c.hq_facts["on_hand_after"] == "-3"
    assert c.proposal == "SX1 盘点核实后补差 3" and c.rule_text.startswith("余量不足")
    assert c.todo_id is not None and c.todo_status == "open" and "同步冲突" in (c.todo_title or "")
    assert c.business_time == datetime(2026, 12, 4, 2, tzinfo=UTC)
    assert c.to_dict()["headquarters_facts"]["on_hand_after"] == "-3"


def test_event_health_shows_the_orgs_nodes_and_metrics_show_active_nodes(session_factory, demo, actors, two_orgs):
    with session_factory() as s:
        mine = org_event_health(s, actors["赵经理"], now=NOW, checks=False)
        everyone = event_health(s, now=NOW, checks=False)
    rows = {n["code"]: n for n in mine.to_dict()["nodes"]}
    assert set(rows) == {"MD1", "SX1"}
    assert rows["SX1"] | {"last_contact_at": None} == {
        "code": "SX1", "org_id": demo.org_id, "active": True, "last_contact_at": None, "lag_seconds": 90,
        "lag_rows": 7, "rows_up": 120, "rows_down": 40, "conflicts_open": 2}
    assert {"SX1", "MD1", "THEIRS"} <= {n["code"] for n in everyone.nodes}
    metrics = prometheus_text(mine)
    assert f'liuzhuan_node_lag_rows{{org="{demo.org_id}",node="SX1"}} 7' in metrics
    assert f'liuzhuan_node_conflicts_open{{org="{demo.org_id}",node="SX1"}} 2' in metrics
    assert f'liuzhuan_node_lag_seconds{{org="{demo.org_id}",node="MD1"}} NaN' in metrics
    assert "THEIRS" not in metrics


def test_a_clerk_reads_neither_nodes_nor_conflicts(session_factory, demo, actors, two_orgs):
    with session_factory() as s:
        with pytest.raises(PermissionDenied):
            list_nodes(s, actors["小周"])
        with pytest.raises(PermissionDenied):
            open_conflicts(s, actors["小周"])
