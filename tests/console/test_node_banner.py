"""The edge node's last-sync banner in the console layout and GET /api/v1/node/status (issue 14)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models import node
from models.org import SitePolicy
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client  # noqa: F401  (the API fixtures)


def _page(console_as) -> str:
    return console_as("赵经理").get("/console/").get_data(as_text=True)


def test_a_node_shows_its_last_sync_and_warns_past_the_sites_window(console_as, session_factory, demo, node_synced):
    client = console_as("赵经理")  # the app is created (as headquarters) before the node is set
    node.configure("N1", block=7)
    node_synced(datetime.now(UTC) - timedelta(hours=3))
    page = client.get("/console/").get_data(as_text=True)
    assert 'data-node-sync="ok"' in page and "上次与总部同步：3 小时前" in page
    assert "请尽快恢复网络" not in page
    with session_factory.begin() as session:  # one served site warns after 2 hours
        session.add(SitePolicy(org_id=demo.org_id, site_id=demo.sites["SX"], offline_kinds="receive",
                               warn_after_hours=2, refuse_money_after_hours=72))
    page = client.get("/console/").get_data(as_text=True)
    assert 'data-node-sync="warn"' in page and "已超过 2 小时未与总部同步" in page
    node_synced(None)
    assert "从未与总部同步" in client.get("/console/").get_data(as_text=True)


def test_headquarters_shows_no_banner(console_as):
    assert node.current() == node.SERVER
    page = _page(console_as)
    assert "node-sync" not in page and "与总部同步" not in page


def test_the_api_reports_the_node_status(client, as_, node_synced):
    node.configure("N1", block=7)  # after the app (created as headquarters)
    node_synced(datetime.now(UTC) - timedelta(hours=30))
    body = client.get("/api/v1/node/status", headers=as_("小周")).get_json()
    assert body["edge"] is True and body["node"] == "N1" and body["level"] == "warn"
    assert body["lag_seconds"] >= 30 * 3600 and body["warn_after_hours"] == 24
    assert body["text"] == "上次与总部同步：1 天 6 小时前" and "24 小时" in body["warning"]
    assert client.get("/api/v1/node/status").status_code == 401


def test_headquarters_api_says_it_is_not_a_node(client, as_):
    assert node.current() == node.SERVER
    assert client.get("/api/v1/node/status", headers=as_("小周")).get_json() == {
        "edge": False, "node": None, "last_synced_at": None, "lag_seconds": None, "level": None,
        "warn_after_hours": None, "text": None, "warning": None}
