"""The queries that replaced the channels' inline statements (issue 11 item 1): a farmer's own
documents, document lookups by number and by card and the planning lists.

Each is asked directly with an Actor: the rows it answers, its permission and its org scope.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal as D

import pytest

from models.actor import Actor
from models.demo import seed_demo
from models.errors import NotFound, PermissionDenied
from models.operations import ReceiveGoods, RequestTransfer, TransferLineIn, receive_goods, request_transfer
from models.operations.forecast_overrides import OverrideForecast, override_forecast
from models.operations.planning import (
    RunForecast,
    SetPromotion,
    UploadCovariate,
    run_forecast,
    set_promotion,
    upload_covariate,
)
from models.operations.replenishment import RecomputeReplenishment, recompute_replenishment
from models.queries import planning_lists
from models.queries.documents import card_target, transfer_by_number
from models.queries.my_documents import my_deliveries, my_payments, my_settlements
from models.uow import run
from tests.models.planning_fakes import fake_engine, monday, weekly_history  # noqa: F401


def _deliver(sf, demo, actors, qty, farmer):
    return run(sf, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=D(qty), party_id=demo.parties[farmer],
        grade_id=demo.grades["一级"]))


def _other_org(sf):
    other = run(sf, seed_demo, f"t-{uuid.uuid4().hex[:12]}")
    return other, Actor.system_actor(other.org_id)


def test_my_documents_are_the_farmers_own(session_factory, demo, actors):
    sf = session_factory
    first = _deliver(sf, demo, actors, "11.75", "王阿姨")
    second = _deliver(sf, demo, actors, "5", "王阿姨")
    _deliver(sf, demo, actors, "30", "李大伯")
    with sf() as s:
        rows = my_deliveries(s, actors["王阿姨"])
        assert [(r.number, r.quantity, r.grade, r.amount, r.prepayment) for r in rows] == [
            (second.number, D(5), "一级", D(400), D(280)), (first.number, D("11.75"), "一级", D(940), D(658))]
        assert [r.number for r in my_deliveries(s, actors["王阿姨"], limit=1)] == [second.number]
        assert [r.number for r in my_deliveries(s, actors["王阿姨"], before_id=rows[0].document_id)] == [first.number]
        assert [(r.receipt_number, r.total, r.status) for r in my_settlements(s, actors["王阿姨"])] == [
            (second.number, D(400), "prepayment_due"), (first.number, D(940), "prepayment_due")]
        p = my_payments(s, actors["王阿姨"])
        assert (p.total, p.paid, p.prepayment_due, p.balance_due) == (D(1340), D(0), D(938), D(0))
        for query in (my_deliveries, my_settlements, my_payments):  # staff deliver nothing
            with pytest.raises(PermissionDenied) as err:
                query(s, actors["小周"])
            assert err.value.code == "PERMISSION_DENIED" and "农户" in err.value.message


def _urgent_transfer(sf, demo, actors):
    return run(sf, request_transfer, actors["小周"], RequestTransfer(
        from_site_id=demo.sites["SX"], to_site_id=demo.sites["ZC"],
        lines=(TransferLineIn(demo.items["茶青"], D(5), "公斤"),), urgent=True, reason="门店断货"))


def test_transfer_by_number_is_scoped_and_needs_a_transfer_permission(session_factory, demo, actors):
    sf = session_factory
    _deliver(sf, demo, actors, "10", "王阿姨")
    t = _urgent_transfer(sf, demo, actors)
    other, other_root = _other_org(sf)
    with sf() as s:
        ref = transfer_by_number(s, actors["赵经理"], t.number.lower())
        assert (ref.id, ref.number, ref.kind, ref.status) == (t.document_id, t.number, "transfer", "requested")
        assert transfer_by_number(s, actors["小周"], t.number).id == t.document_id  # its requester
        with pytest.raises(NotFound) as err:  # another org's member: as if it did not exist
            transfer_by_number(s, other_root, t.number)
        assert err.value.code == "NOT_FOUND" and "找不到调拨单" in err.value.message
        with pytest.raises(PermissionDenied) as denied:
            transfer_by_number(s, actors["王阿姨"], t.number)
        assert "没有权限" in denied.value.message
        assert other.org_id != demo.org_id


def test_card_target_names_the_request_its_document_and_the_tapper(session_factory, demo, actors):
    sf = session_factory
    _deliver(sf, demo, actors, "10", "王阿姨")
    t = _urgent_transfer(sf, demo, actors)
    track = f"appr-transfer-{t.document_id}"
    with sf() as s:
        target = card_target(s, track, "zhao")
        assert (target.document.id, target.document.number, target.actor.member_id) == (
            t.document_id, t.number, demo.members["赵经理"])
        for track_id, user, fragment in ((track, "nobody", "未绑定"), ("appr-transfer-0", "zhao", "找不到该审批卡片")):
            with pytest.raises(NotFound) as err:
                card_target(s, track_id, user)
            assert fragment in err.value.message


LISTS = {
    "forecast_runs": lambda s, a: planning_lists.forecast_runs(s, a),
    "overrides": lambda s, a: planning_lists.overrides(s, a),
    "scores": lambda s, a: planning_lists.overrides(s, a, scored_only=True),
    "promotions": lambda s, a: planning_lists.promotions(s, a, include_cancelled=True),
    "covariates": lambda s, a: planning_lists.covariates(s, a),
    "imports": lambda s, a: planning_lists.demand_imports(s, a),
    "suggestions": lambda s, a: planning_lists.suggestions(s, a, status="all"),
    "safety_stock": lambda s, a: planning_lists.safety_stock(s, a),
}


@pytest.mark.usefixtures("fake_engine")
def test_planning_lists_need_plan_and_stay_in_the_org(session_factory, demo, actors):
    sf, boss = session_factory, actors["赵经理"]
    weekly_history(sf, demo, actors, "MD", [4, 4, 4, 4], stock_first=17)
    nxt = monday(0) + timedelta(days=7)
    run(sf, set_promotion, boss, SetPromotion(item_id=demo.items["龙井"], starts_on=nxt,
                                              ends_on=nxt + timedelta(days=6), uplift=D("0.3")))
    run(sf, upload_covariate, boss, UploadCovariate("气温", ((monday(1), D("11.5")), (monday(0), D(9)))))
    result = run(sf, run_forecast, boss, RunForecast(horizon=3))
    run(sf, override_forecast, boss, OverrideForecast(demo.items["龙井"], demo.sites["MD"], nxt, 1, "节前备货",
                                                     set_value=D(8)))
    run(sf, recompute_replenishment, boss, RecomputeReplenishment())
    _other, other_root = _other_org(sf)
    with sf() as s:
        assert [r["id"] for r in planning_lists.forecast_runs(s, boss)][:1] == [result.run_id]
        assert planning_lists.forecast_run(s, boss, result.run_id)["id"] == result.run_id
        summary, lines = planning_lists.forecast_lines(s, boss, result.run_id, site_id=demo.sites["MD"])
        assert summary["id"] == result.run_id and len(lines) == 3 and lines[0].method_label
        assert [(o.weeks, o.set_value, o.reason) for o in planning_lists.overrides(s, boss)] == [(1, D(8), "节前备货")]
        assert planning_lists.overrides(s, boss, scored_only=True) == []
        assert [(p.item_id, p.uplift) for p in planning_lists.promotions(s, boss)] == [(demo.items["龙井"], D("0.3"))]
        assert [(c.name, c.count, c.first_day, c.last_day) for c in planning_lists.covariates(s, boss)] == [
            ("气温", 2, monday(1), monday(0))]
        assert planning_lists.demand_imports(s, boss) == []
        assert [(r.item_id, r.site_id) for r in planning_lists.safety_stock(s, boss)] == [
            (demo.items["龙井"], demo.sites["MD"])]
        assert len(planning_lists.suggestions(s, boss, status="all")) >= 1
        for name, ask in LISTS.items():
            assert ask(s, other_root) == [], name  # another org sees none of it
            with pytest.raises(PermissionDenied) as err:  # a clerk does not plan
                ask(s, actors["小周"])
            assert err.value.details["permission"] == "plan" and "没有权限" in err.value.message, name
        with pytest.raises(NotFound):
            planning_lists.forecast_run(s, other_root, result.run_id)
        with pytest.raises(NotFound):
            planning_lists.forecast_lines(s, other_root, result.run_id)


