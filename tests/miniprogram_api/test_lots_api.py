"""The API beside the console's 库存 pages: value by site, slow movers, a lot's trace, QC and freezes."""

from __future__ import annotations

from decimal import Decimal

from sqlalchemy import select

from models.stock import Freeze, Lot, QcStatus
from tests.console.stock_fixtures import stock_demo
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client  # noqa: F401
from tests.security.conftest import assert_refused, rows


def test_value_and_slow_movers(client, as_, session_factory, demo, actors):
    stock_demo(session_factory, demo, actors)
    value = client.get("/api/v1/stock/value", headers=as_("赵经理")).get_json()
    by_site = {s["site_name"]: s for s in value["sites"]}
    assert set(by_site) == {"绍兴收购点", "总仓", "门店"} and by_site["门店"]["value"] == "0"
    assert by_site["总仓"]["items"] == 1 and float(value["total"]) > 0
    slow = client.get("/api/v1/stock/slow-movers?days=30", headers=as_("赵经理")).get_json()
    assert slow["days"] == 30 and slow["rows"] == []
    assert_refused(client.get("/api/v1/stock/slow-movers?days=0", headers=as_("赵经理")), 422, "VALIDATION_ERROR")


def test_trace_and_qc_and_freeze_and_lift(client, as_, session_factory, demo, actors):
    s = stock_demo(session_factory, demo, actors)
    trace = client.get(f"/api/v1/lots/{s.wang_lot}/trace", headers=as_("赵经理")).get_json()
    assert trace["origin_name"] == "王阿姨" and trace["receipt"]["document_number"] == s.wang_receipt
    kinds = [m["kind_label"] for m in trace["moves"]]
    assert "入库单" in kinds and "出库单" in kinds and "调拨单" in kinds
    assert [(d["party_name"], Decimal(d["quantity"])) for d in trace["destinations"]] == [("杭州茶城", 5)]

    key = {"Idempotency-Key": "qc-1"}
    done = client.post(f"/api/v1/lots/{s.wang_lot}/qc", json={"passed": False, "note": "农残超标"},
                       headers={**as_("赵经理"), **key})
    assert done.status_code == 201 and done.get_json()["qc_status"] == "failed"
    again = client.post(f"/api/v1/lots/{s.wang_lot}/qc", json={"passed": False, "note": "农残超标"},
                        headers={**as_("赵经理"), **key})
    assert again.get_json() == done.get_json()
    with session_factory() as db:
        assert db.get_one(Lot, s.wang_lot).qc_status == QcStatus.FAILED
        assert len(db.scalars(select(Freeze).where(Freeze.lot_id == s.wang_lot)).all()) == 1

    made = client.post("/api/v1/freezes", json={"item_id": demo.items["茶青"], "direction": "outbound",
                                                "reason": "抽检", "site_id": demo.sites["ZC"], "lot_id": s.wang_lot},
                       headers=as_("老孙"))
    assert made.status_code == 201
    lifted = client.post(f"/api/v1/freezes/{made.get_json()['freeze_id']}/lift", json={"reason": "抽检完毕"},
                         headers=as_("老孙"))
    assert lifted.status_code == 200 and lifted.get_json()["active"] is False
    trace = client.get(f"/api/v1/lots/{s.wang_lot}/trace", headers=as_("赵经理")).get_json()
    reasons = {f["reason"]: f["release_reason"] for f in trace["freezes"]}
    assert reasons["抽检"] == "抽检完毕"
    assert trace["qc_records"][0]["note"] == "农残超标" and trace["qc_records"][0]["by"] == "赵经理"


def test_refusals_write_nothing(client, as_, engine, session_factory, demo, actors):
    s = stock_demo(session_factory, demo, actors)
    before = rows(engine)
    assert_refused(client.post(f"/api/v1/lots/{s.wang_lot}/qc", json={"passed": False, "note": "x"},
                               headers=as_("小周")), 403, "PERMISSION_DENIED")
    # 老孙 keeps 总仓 and 门店: a freeze at 绍兴 is not his to lift
    assert_refused(client.post(f"/api/v1/freezes/{s.freeze_id}/lift", json={"reason": "放行"},
                               headers=as_("老孙")), 403, "PERMISSION_DENIED")
    assert_refused(client.post("/api/v1/freezes", json={"item_id": demo.items["茶青"], "direction": "both",
                                                        "reason": "x" * 201}, headers=as_("赵经理")),
                   422, "VALIDATION_ERROR")
    assert_refused(client.post(f"/api/v1/lots/{s.wang_lot}/qc", json={"passed": "maybe"},
                               headers=as_("赵经理")), 422, "VALIDATION_ERROR")
    assert rows(engine) == before


def test_fuzzing_these_routes_finds_no_5xx_and_answers_conform(app, as_, session_factory, demo, actors):
    from tests.fuzzing import fuzz_spec

    stock_demo(session_factory, demo, actors)
    ours = ("/api/v1/lots", "/api/v1/freezes", "/api/v1/stock/value", "/api/v1/stock/slow-movers")
    for member in ("赵经理", "小周"):
        seen, failures = fuzz_spec(app, as_(member), 8, include=lambda path: path.startswith(ours))
        assert not failures, "\n\n".join(f"{op}\n{msg}" for op, msg in failures.items())
        assert len(seen) == 6
