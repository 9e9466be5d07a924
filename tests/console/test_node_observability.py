"""协同 · 站点节点 and 事件健康 show each node's sync figures, and 站点节点 lists the open sync conflicts
(both sides' facts, rule, proposal, the to-do); GET /api/v1/nodes and /api/v1/workflows/health carry the
same figures. Another organisation's nodes and conflicts never appear; a clerk is refused."""

from __future__ import annotations

import uuid

from models.demo import seed_demo
from models.nodes import ConflictStatus
from models.uow import run
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client  # noqa: F401  (the API fixtures)
from tests.operations.test_node_observability import seed_node

PAGE = "/console/collaboration/nodes"
HEALTH = "/console/collaboration/health"


def _seed(session_factory, demo) -> None:
    other = run(session_factory, seed_demo, f"t-{uuid.uuid4().hex[:12]}")
    seed_node(session_factory, demo.org_id, "SX1", demo.sites["SX"], pending=7, up=120, down=40,
              conflicts=(("oversold", ConflictStatus.OPEN), ("lot_blocked", ConflictStatus.RESOLVED)))
    seed_node(session_factory, other.org_id, "THEIRS", other.sites["SX"], pending=99)


def test_the_nodes_page_shows_figures_and_open_conflicts_of_our_org_only(console_as, session_factory, demo):
    _seed(session_factory, demo)
    resp = console_as("赵经理").get(PAGE)
    html = resp.get_data(as_text=True)
    assert resp.status_code == 200
    assert "待同步（条）" in html and '<span class="tag bad">7</span>' in html and "120 / 40" in html
    assert "未处理的同步冲突（1）" in html and 'href="#conflicts">1</a>' in html
    # The conflict: the node's side, headquarters' side, the rule, the proposal and the to-do.
    assert "数量 -5" in html and "出库后账面 -3" in html and "余量不足" in html
    assert "SX1 盘点核实后补差 3" in html and "待办 #" in html and "业务时间 2026-12-04 10:00" in html
    assert "批次不合格或已冻结仍出库" not in html  # resolved: not listed
    assert "THEIRS" not in html and '<span class="tag bad">99</span>' not in html


def test_the_health_page_has_a_nodes_section(console_as, session_factory, demo):
    _seed(session_factory, demo)
    html = console_as("赵经理").get(HEALTH).get_data(as_text=True)
    assert "站点节点同步" in html and "<code>SX1</code>" in html and "120 / 40" in html
    assert "THEIRS" not in html
    assert console_as("小周").get(PAGE).status_code == 403


def test_no_conflicts_and_no_nodes_render_plainly(console_as, demo):
    client = console_as("钱总监")
    html = client.get(PAGE).get_data(as_text=True)
    assert "没有未处理的同步冲突" in html and "还没有登记站点节点" in html
    assert "站点节点同步" not in client.get(HEALTH).get_data(as_text=True)


def test_the_apis_carry_the_figures(client, as_, session_factory, demo):
    _seed(session_factory, demo)
    (line,) = client.get("/api/v1/nodes", headers=as_("赵经理")).get_json()
    assert (line["code"], line["lag_rows"], line["rows_up"], line["rows_down"], line["conflicts_open"]) == (
        "SX1", 7, 120, 40, 1)
    health = client.get("/api/v1/workflows/health", headers=as_("赵经理")).get_json()
    assert [(n["code"], n["lag_rows"], n["conflicts_open"]) for n in health["nodes"]] == [("SX1", 7, 1)]
