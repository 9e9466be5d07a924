"""At an edge node out of touch with headquarters, a shipment the site's offline policy refuses is
answered with the policy's code and writes nothing (issue 14 point 3)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from models import node
from tests.miniprogram_api.fixtures_3b import receive
from tests.security.conftest import assert_refused, rows


def test_a_refused_offline_shipment_writes_nothing(client, as_, engine, session_factory, demo, actors, node_synced):
    node.configure("N1", block=7)  # after the app (created as headquarters)
    node_synced(datetime.now(UTC))
    receive(session_factory, demo, actors, "10")
    node_synced(datetime.now(UTC) - timedelta(hours=2))  # past the online window; 绍兴 has the defaults
    body = {"site_id": demo.sites["SX"], "item_id": demo.items["茶青"], "quantity": "1",
            "party_id": demo.parties["杭州茶城"], "unit_price": "100"}
    before = rows(engine)
    resp = client.post("/api/v1/shipments", headers={**as_("赵经理"), "Idempotency-Key": "offline-1"}, json=body)
    assert_refused(resp, 409, "NODE_OFFLINE_NOT_ALLOWED", "不允许离线出库销售")
    assert rows(engine) == before
