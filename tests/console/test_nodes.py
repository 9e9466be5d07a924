"""协同 · 站点节点 in the console and GET /api/v1/nodes: list with last contact and lag, register with the
key shown once, rotate (shown once), deactivate; members without the permission are refused."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from models.actor import Actor
from models.demo import seed_demo
from models.nodes import Node
from models.operations.nodes import RegisterNode, register_node
from models.uow import run
from tests.console.conftest import post
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client  # noqa: F401  (the API fixtures)

PAGE = "/console/collaboration/nodes"


def _node(session_factory, org_id: int, code: str) -> Node:
    with session_factory() as s:
        return s.scalars(select(Node).where(Node.org_id == org_id, Node.code == code)).one()


def test_register_shows_the_key_once_then_rotate_and_deactivate(console_as, session_factory, demo):
    other = run(session_factory, seed_demo, f"t-{uuid.uuid4().hex[:12]}")
    run(session_factory, register_node, Actor.system_actor(other.org_id), RegisterNode("THEIRS", (other.sites["SX"],)))
    client = console_as("钱总监")
    assert "还没有登记站点节点" in client.get(PAGE).get_data(as_text=True)
    resp = post(client, PAGE, {"code": "sx1", "name": "绍兴节点", "site_ids": [str(demo.sites["SX"])]}, page=PAGE)
    html = resp.get_data(as_text=True)
    node = _node(session_factory, demo.org_id, "SX1")
    assert resp.status_code == 201 and node.key in html and "只显示这一次" in html and "LIUZHUAN_NODE=SX1" in html
    listed = client.get(PAGE).get_data(as_text=True)
    assert "SX1" in listed and "绍兴收购点" in listed and "从未联系" in listed
    assert node.key not in listed and "THEIRS" not in listed

    again = post(client, PAGE, {"code": "SX1", "site_ids": [str(demo.sites["ZC"])]}, page=PAGE)
    assert again.status_code == 409 and "NODE_DUPLICATE" in again.get_data(as_text=True)
    theirs = post(client, PAGE, {"code": "ZC1", "site_ids": [str(other.sites["ZC"])]}, page=PAGE)
    assert theirs.status_code == 404
    with session_factory() as s:
        assert s.scalars(select(Node.code).where(Node.org_id == demo.org_id)).all() == ["SX1"]

    rotated = post(client, f"{PAGE}/{node.id}/rotate", page=PAGE)
    new_key = _node(session_factory, demo.org_id, "SX1").key
    assert rotated.status_code == 200 and new_key != node.key and new_key in rotated.get_data(as_text=True)
    assert post(client, f"{PAGE}/{node.id}/deactivate", page=PAGE).status_code == 303
    assert _node(session_factory, demo.org_id, "SX1").active is False
    assert "已停用" in client.get(PAGE).get_data(as_text=True)


def test_a_manager_reads_but_cannot_change_and_a_clerk_cannot_read(console_as, session_factory, demo):
    issued = run(session_factory, register_node, Actor.system_actor(demo.org_id),
                 RegisterNode("MD", (demo.sites["MD"],)))
    manager = console_as("赵经理")
    html = manager.get(PAGE).get_data(as_text=True)
    assert "MD" in html and "需要总监或管理员权限" in html and "登记并生成密钥" not in html
    refused = post(manager, f"{PAGE}/{issued.node_id}/rotate", page=PAGE)
    assert refused.status_code == 403
    assert _node(session_factory, demo.org_id, "MD").key == issued.key
    # Refused as every console action is: back to the page with the reason, nothing written.
    assert post(manager, f"{PAGE}/{issued.node_id}/deactivate", {"next": PAGE}, page=PAGE).status_code == 303
    assert "没有权限：分配角色" in manager.get(PAGE).get_data(as_text=True)
    assert _node(session_factory, demo.org_id, "MD").active is True
    assert console_as("小周").get(PAGE).status_code == 403


def test_the_api_lists_nodes_without_keys(client, as_, session_factory, demo):
    issued = run(session_factory, register_node, Actor.system_actor(demo.org_id),
                 RegisterNode("ZC", (demo.sites["ZC"], demo.sites["MD"]), name="总仓节点"))
    resp = client.get("/api/v1/nodes", headers=as_("赵经理"))
    assert resp.status_code == 200
    (line,) = resp.get_json()
    assert line["code"] == "ZC" and [s["code"] for s in line["sites"]] == ["MD", "ZC"]
    assert line["last_contact_at"] is None and line["lag_seconds"] is None and line["rows_up"] == 0
    assert issued.key not in resp.get_data(as_text=True)
    assert client.get("/api/v1/nodes", headers=as_("小周")).status_code == 403
