"""A farmer sees only her own deliveries and settlements."""

from __future__ import annotations

from models.operations import SettleFarmer, settle_farmer
from models.uow import run
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client, receive  # noqa: F401


def test_farmer_sees_only_her_own_deliveries(client, demo, actors, session_factory, as_):
    mine = receive(session_factory, demo, actors, "11.75", farmer="王阿姨")
    receive(session_factory, demo, actors, "30", farmer="李大伯")
    rows = client.get("/api/v1/my/deliveries", headers=as_("王阿姨")).get_json()["items"]
    assert [(r["number"], r["quantity"], r["grade"], r["amount"], r["prepayment"]) for r in rows] == [
        (mine.number, "11.75", "一级", "940", "658")]
    assert rows[0]["qc_status"] == "pending" and rows[0]["status_label"] == "已过账"


def test_settlements_show_prepayment_then_paid(client, demo, actors, session_factory, as_):
    receive(session_factory, demo, actors, "10", farmer="王阿姨")
    receive(session_factory, demo, actors, "10", farmer="陈小芳")
    rows = client.get("/api/v1/my/settlements", headers=as_("王阿姨")).get_json()["items"]
    assert [(r["total"], r["prepayment"], r["status"]) for r in rows] == [("800", "560", "prepayment_due")]
    run(session_factory, settle_farmer, actors["吴会计"], SettleFarmer(party_id=demo.parties["王阿姨"]))
    rows = client.get("/api/v1/my/settlements", headers=as_("王阿姨")).get_json()["items"]
    assert rows[0]["status"] == "prepaid" and rows[0]["prepaid_at"] and "尾款待质检" in rows[0]["status_label"]


def test_staff_without_a_party_get_403(client, as_):
    r = client.get("/api/v1/my/deliveries", headers=as_("小周"))
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "PERMISSION_DENIED"
    assert client.get("/api/v1/my/settlements", headers=as_("赵经理")).status_code == 403
