"""Attacks on the console's 库存 actions: another org's ids, a storekeeper of other sites freezing, members
without the permission, forged and replayed forms, absurd numbers. Each refusal writes nothing."""

from __future__ import annotations

import uuid
from decimal import Decimal as D

import pytest
from sqlalchemy import select

from models.actor import load_actor
from models.demo import seed_demo
from models.operations import FreezeStock, ReceiveGoods, freeze_stock, receive_goods
from models.stock import Freeze, FreezeDirection, Lot, QcStatus
from models.uow import run
from tests.console import conftest as console_fixtures
from tests.console.conftest import post
from tests.console.stock_fixtures import stock_demo
from tests.security.conftest import rows

# The console's fixtures, for this module outside tests/console.
console_app = console_fixtures.console_app
console_as = console_fixtures.console_as


@pytest.fixture
def stocked(session_factory, demo, actors):
    return stock_demo(session_factory, demo, actors)


@pytest.fixture
def theirs(session_factory):
    """Another co-operative's lot, item, site and active freeze."""
    other = run(session_factory, seed_demo, f"x-{uuid.uuid4().hex[:12]}", "外社茶叶合作社")
    with session_factory() as s:
        boss = load_actor(s, other.members["赵经理"])
    got = run(session_factory, receive_goods, boss, ReceiveGoods(
        site_id=other.sites["SX"], item_id=other.items["茶青"], quantity=D(7), party_id=other.parties["陈小芳"],
        grade_id=other.grades["二级"]))
    frozen = run(session_factory, freeze_stock, boss, FreezeStock(
        item_id=other.items["茶青"], direction=FreezeDirection.BOTH, reason="外社冻结", site_id=other.sites["SX"],
        lot_id=got.lot_id))
    return other, got.lot_id, frozen.freeze_id


def _flash(client, path: str) -> str:
    return client.get(path).get_data(as_text=True)


def _key() -> str:
    return uuid.uuid4().hex


def test_another_orgs_lot_and_freeze_are_not_found_and_untouched(console_as, engine, session_factory, demo,
                                                                stocked, theirs):
    other, lot_id, freeze_id = theirs
    client = console_as("钱总监")
    page = f"/console/stock/lots/{stocked.wang_lot}"
    assert client.get(f"/console/stock/lots/{lot_id}").status_code == 404
    before = rows(engine)
    post(client, f"/console/stock/lots/{lot_id}/qc", {"result": "fail", "note": "x", "request_id": _key()}, page=page)
    assert "找不到批次" in _flash(client, page)
    post(client, f"/console/stock/freezes/{freeze_id}/lift", {"reason": "放行", "request_id": _key()}, page=page)
    assert "找不到冻结记录" in _flash(client, page)
    # Our lot with their item, their site, or their lot under our item: each not found / refused.
    for form in ({"item_id": other.items["茶青"], "site_id": demo.sites["SX"]},
                 {"item_id": demo.items["茶青"], "site_id": other.sites["SX"]}):
        post(client, f"{page}/freeze", {**form, "direction": "both", "reason": "x", "request_id": _key()}, page=page)
        assert "找不到" in _flash(client, page)
    post(client, f"/console/stock/lots/{lot_id}/freeze", {"item_id": demo.items["茶青"], "direction": "both",
                                                         "reason": "x", "request_id": _key()}, page=page)
    assert rows(engine) == before
    with session_factory() as s:
        assert s.get_one(Lot, lot_id).qc_status == QcStatus.PENDING and s.get_one(Freeze, freeze_id).active


def test_a_storekeeper_of_other_sites_cannot_freeze_or_lift_here(console_as, engine, demo, stocked):
    client = console_as("老孙")  # storekeeper at 总仓 and 门店, not at 绍兴
    page = f"/console/stock/lots/{stocked.wang_lot}"
    assert client.get(page).status_code == 200  # the lot went through 总仓: he may see it
    before = rows(engine)
    post(client, f"{page}/freeze", {"item_id": demo.items["茶青"], "site_id": demo.sites["SX"], "direction": "both",
                                    "reason": "抢先冻结", "request_id": _key()}, page=page)
    assert "没有权限" in _flash(client, page)
    post(client, f"{page}/freeze", {"item_id": demo.items["茶青"], "site_id": "", "direction": "both",
                                    "reason": "所有地点", "request_id": _key()}, page=page)
    assert "没有权限" in _flash(client, page)
    post(client, f"/console/stock/freezes/{stocked.freeze_id}/lift", {"reason": "放行", "request_id": _key()},
         page=page)
    assert "没有权限" in _flash(client, page)
    assert rows(engine) == before


def test_a_clerk_cannot_record_qc_or_freeze(console_as, engine, demo, stocked):
    client = console_as("小周")
    page = f"/console/stock/lots/{stocked.li_lot}"
    before = rows(engine)
    post(client, f"{page}/qc", {"result": "pass", "request_id": _key()}, page=page)
    assert "没有权限：质检" in _flash(client, page)
    post(client, f"{page}/freeze", {"item_id": demo.items["茶青"], "site_id": demo.sites["SX"], "direction": "both",
                                    "reason": "x", "request_id": _key()}, page=page)
    assert "没有权限：冻结库存" in _flash(client, page)
    assert rows(engine) == before


def test_a_farmer_sees_no_stock_pages(console_as, stocked):
    client = console_as("王阿姨")
    for path in ("/console/stock", "/console/stock/value", f"/console/stock/lots/{stocked.wang_lot}",
                 "/console/stock/export.xlsx"):
        assert client.get(path).status_code == 403, path


def test_missing_csrf_is_refused(console_as, engine, stocked):
    client = console_as("赵经理")
    before = rows(engine)
    response = client.post(f"/console/stock/lots/{stocked.wang_lot}/qc",
                           data={"result": "fail", "note": "x", "request_id": _key()})
    assert response.status_code == 400 and "CSRF_INVALID" in response.get_data(as_text=True)
    assert rows(engine) == before


def test_a_replayed_submit_records_once(console_as, session_factory, engine, demo, stocked):
    client = console_as("赵经理")
    page = f"/console/stock/lots/{stocked.wang_lot}"
    form = {"item_id": demo.items["茶青"], "site_id": demo.sites["SX"], "direction": "outbound", "reason": "复核",
            "request_id": _key()}
    post(client, f"{page}/freeze", form, page=page)
    after_first = rows(engine)
    post(client, f"{page}/freeze", form, page=page)
    assert rows(engine) == after_first
    # The same key with another body is a conflict, not a second freeze.
    post(client, f"{page}/freeze", {**form, "reason": "另一个原因"}, page=page)
    assert "IDEMPOTENCY_CONFLICT" in _flash(client, page)
    assert rows(engine) == after_first
    with session_factory() as s:
        assert len(s.scalars(select(Freeze).where(Freeze.reason == "复核")).all()) == 1


@pytest.mark.parametrize("form", [
    {"result": "maybe", "note": "x"},
    {"result": "fail", "note": ""},
    {"result": "fail", "note": "超" * 201},
    {"result": "pass", "note": "x", "request_id": "1e30"},
    {"result": "pass", "note": "x", "request_id": ""},
])
def test_junk_qc_forms_are_refused_in_chinese(console_as, engine, stocked, form):
    client = console_as("赵经理")
    page = f"/console/stock/lots/{stocked.wang_lot}"
    before = rows(engine)
    response = post(client, f"{page}/qc", {"request_id": _key(), **form}, page=page)
    assert response.status_code == 303
    flashed = _flash(client, page)
    assert "VALIDATION_ERROR" in flashed
    assert rows(engine) == before


@pytest.mark.parametrize("path", [
    "/console/stock/lots/99999999999999999999999999",
    "/console/stock/lots/9007199254740993",
    "/console/stock/lots/0",
])
def test_absurd_lot_ids_are_not_found(console_as, engine, stocked, path):
    client = console_as("赵经理")
    assert client.get(path).status_code == 404
    before = rows(engine)
    response = post(client, f"{path}/qc", {"result": "pass", "request_id": _key()},
                    page=f"/console/stock/lots/{stocked.wang_lot}")
    assert response.status_code in (303, 404)
    assert rows(engine) == before


@pytest.mark.parametrize("form", [
    {"site_id": "1e3"}, {"site_id": "-5"}, {"site_id": "99999999999999999999"}, {"item_id": "abc"},
    {"direction": "sideways"}, {"reason": ""}, {"reason": "长" * 201},
])
def test_absurd_freeze_forms_are_refused(console_as, engine, demo, stocked, form):
    client = console_as("赵经理")
    page = f"/console/stock/lots/{stocked.wang_lot}"
    before = rows(engine)
    base = {"item_id": demo.items["茶青"], "site_id": demo.sites["SX"], "direction": "both", "reason": "x",
            "request_id": _key()}
    post(client, f"{page}/freeze", {**base, **form}, page=page)
    assert "VALIDATION_ERROR" in _flash(client, page)
    assert rows(engine) == before


@pytest.mark.parametrize("query", [
    "expiring=1" + "0" * 30, "expiring=-1", "site_id=0", "after=" + "9" * 40 + "-1", "q=" + "长" * 300,
])
def test_absurd_list_filters_are_a_422(console_as, stocked, query):
    response = console_as("赵经理").get(f"/console/stock?{query}")
    assert response.status_code == 422 and "VALIDATION_ERROR" in response.get_data(as_text=True)


@pytest.mark.parametrize("query", ["days=0", "days=731", "days=1e3", "site_id=x"])
def test_absurd_slow_mover_windows_are_a_422(console_as, stocked, query):
    assert console_as("赵经理").get(f"/console/stock/value?{query}").status_code == 422


@pytest.mark.parametrize("after", ["x", "1_notauuid", "9" * 19 + "_" + "0" * 32, "-5_" + "0" * 32])
def test_junk_ledger_cursors_are_a_422(console_as, stocked, after):
    response = console_as("赵经理").get(f"/console/stock/lots/{stocked.wang_lot}?after={after}")
    assert response.status_code == 422
