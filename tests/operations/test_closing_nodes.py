"""结账 while an edge node is behind (issue 14 §4): refused with PERIOD_NODE_BEHIND naming the node and
nothing written; allowed once the node has reported in after the period's end with nothing pending;
deactivated nodes and another organisation's nodes do not block."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from sqlalchemy import func, select

from models.actor import Actor
from models.audit import AuditEntry
from models.demo import seed_demo
from models.errors import PeriodNodeBehind
from models.nodes import Node
from models.operations.closing import ClosePeriod, close_period
from models.operations.nodes import DeactivateNode, RegisterNode, deactivate_node, register_node
from models.periods import AccountingPeriod, PeriodStatus
from models.timeutil import SHANGHAI
from models.uow import run
from tests.factories import receive, row_counts

NOV = "202611"
AFTER_NOV = datetime(2026, 12, 1, 8, tzinfo=SHANGHAI)  # the period ends at 12-01 00:00 Shanghai
IN_NOV = datetime(2026, 11, 30, 18, tzinfo=SHANGHAI)


def _node(session_factory, org_id: int, code: str, site: int) -> int:
    return run(session_factory, register_node, Actor.system_actor(org_id), RegisterNode(code, (site,))).node_id


def _contact(session_factory, node_id: int, at: datetime | None, pending: int = 0) -> None:
    with session_factory() as s, s.begin():
        n = s.get(Node, node_id)
        n.last_contact_at, n.pending_up = at, pending


def _state(session_factory, org_id: int) -> tuple[PeriodStatus | None, int]:
    with session_factory() as s:
        status = s.scalar(select(AccountingPeriod.status).where(AccountingPeriod.org_id == org_id,
                                                                AccountingPeriod.period == NOV))
        audits = s.scalar(select(func.count()).select_from(AuditEntry).where(
            AuditEntry.org_id == org_id, AuditEntry.action == "period.close")) or 0
    return status, audits


def _refused(session_factory, actor) -> PeriodNodeBehind:
    with pytest.raises(PeriodNodeBehind) as err:
        run(session_factory, close_period, actor, ClosePeriod(NOV))
    assert err.value.code == "PERIOD_NODE_BEHIND" and err.value.http_status == 409
    return err.value


def test_close_waits_for_a_node_behind_then_goes_through(session_factory, demo, actors):
    receive(session_factory, demo, 10, business_time=datetime(2026, 11, 3, 10, tzinfo=SHANGHAI))
    sx1 = _node(session_factory, demo.org_id, "SX1", demo.sites["SX"])
    counts = row_counts(session_factory, demo.org_id)

    never = _refused(session_factory, actors["吴会计"])  # never contacted: it may hold the whole month
    assert "站点节点 SX1 从未与总部同步" in never.message and never.details["nodes"][0]["code"] == "SX1"

    _contact(session_factory, sx1, AFTER_NOV, pending=12)
    pending = _refused(session_factory, actors["吴会计"])
    assert "站点节点 SX1 还有 12 条变更未同步（最后联系 2026-12-01 08:00）" in pending.message
    assert pending.details["nodes"][0]["pending_up"] == 12

    _contact(session_factory, sx1, IN_NOV, pending=0)  # caught up, but before the month was over
    stale = _refused(session_factory, actors["吴会计"])
    assert "SX1" in stale.message and "2026-11-30 18:00" in stale.message and "未同步" not in stale.message

    # Nothing was written by any refusal.
    assert row_counts(session_factory, demo.org_id) == counts
    assert _state(session_factory, demo.org_id) == (None, 0)

    _contact(session_factory, sx1, AFTER_NOV, pending=0)
    state = run(session_factory, close_period, actors["吴会计"], ClosePeriod(NOV))
    assert state.status == "closed" and _state(session_factory, demo.org_id) == (PeriodStatus.CLOSED, 1)


def test_every_node_behind_is_named_and_a_deactivated_one_does_not_block(session_factory, demo, actors):
    sx1 = _node(session_factory, demo.org_id, "SX1", demo.sites["SX"])
    md1 = _node(session_factory, demo.org_id, "MD1", demo.sites["MD"])
    _contact(session_factory, sx1, AFTER_NOV, pending=3)
    err = _refused(session_factory, actors["吴会计"])
    assert [n["code"] for n in err.details["nodes"]] == ["MD1", "SX1"]
    assert "站点节点 MD1" in err.message and "站点节点 SX1 还有 3 条" in err.message

    run(session_factory, deactivate_node, actors["钱总监"], DeactivateNode(md1, reason="撤点"))
    _contact(session_factory, sx1, AFTER_NOV, pending=0)
    assert run(session_factory, close_period, actors["吴会计"], ClosePeriod(NOV)).status == "closed"


def test_another_orgs_node_never_blocks_our_close(session_factory, demo, actors):
    other = run(session_factory, seed_demo, f"t-{uuid.uuid4().hex[:12]}")
    _node(session_factory, other.org_id, "THEIRS", other.sites["SX"])  # never contacted
    assert run(session_factory, close_period, actors["吴会计"], ClosePeriod(NOV)).status == "closed"
