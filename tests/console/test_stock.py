"""库存 pages through the Flask client: the stock list and its filters, the export, value by site and slow
movers, a lot's trace; QC and freezes change state only through their operations."""

from __future__ import annotations

import io
import re
import uuid
from decimal import Decimal as D

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from models.demo import seed_demo
from models.infra import AuditEntry
from models.operations import ReceiveGoods, receive_goods
from models.stock import Freeze, Lot, QcStatus
from models.uow import run
from tests.console.conftest import post
from tests.console.stock_fixtures import stock_demo
from tests.security.conftest import rows


@pytest.fixture
def stocked(session_factory, demo, actors):
    return stock_demo(session_factory, demo, actors)


@pytest.fixture
def other_org(session_factory):
    """Another co-operative with a lot of its own (its names must never show on ours)."""
    other = run(session_factory, seed_demo, f"o-{uuid.uuid4().hex[:12]}", "外社茶叶合作社")
    from models.actor import load_actor
    with session_factory() as s:
        boss = load_actor(s, other.members["赵经理"])
    got = run(session_factory, receive_goods, boss, ReceiveGoods(
        site_id=other.sites["SX"], item_id=other.items["茶青"], quantity=D(7), party_id=other.parties["陈小芳"],
        grade_id=other.grades["二级"]))
    return other, got


def _text(response) -> str:
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def _lot(sf, lot_id) -> Lot:
    with sf() as s:
        return s.get_one(Lot, lot_id)


def _request_id(page: str, action: str) -> str:
    form = page[page.index(f'action="{action}"'):]
    return re.search(r'name="request_id" value="([0-9a-f]{32})"', form).group(1)


# --- the stock list ------------------------------------------------------------------------------

def test_stock_list_shows_availability_per_site_and_item_with_lots(console_as, stocked, other_org):
    page = _text(console_as("赵经理").get("/console/stock"))
    assert "绍兴收购点" in page and "总仓" in page and "茶青" in page
    # 绍兴: 王阿姨's lot 10 kg left, 李大伯's 10 kg frozen → on hand 20, available 10, frozen 10.
    row = page[page.index("<td>绍兴收购点</td>"):page.index("批次（")]
    assert "20 公斤" in row and "10 公斤" in row and "1 批不能发" in row
    assert stocked.wang_code in page and stocked.li_code in page and "王阿姨" in page and "冷库温度超标" in page
    assert "¥" in page  # value at cost
    assert "外社" not in page and "陈小芳" not in page


def test_filters_held_only_expiring_and_item_text(console_as, demo, stocked):
    client = console_as("赵经理")
    held = _text(client.get("/console/stock?held=1"))
    assert stocked.li_code in held and "<td>总仓</td>" not in held  # 总仓 holds nothing frozen
    site = _text(client.get(f"/console/stock?site_id={demo.sites['ZC']}"))
    assert "<td>总仓</td>" in site and "<td>绍兴收购点</td>" not in site
    assert "没有符合条件的库存" in _text(client.get("/console/stock?q=龙井"))
    assert stocked.wang_code in _text(client.get("/console/stock?q=cq"))  # by code, any case
    assert stocked.wang_code in _text(client.get("/console/stock?expiring=30"))  # 茶青 keeps 3 days


def test_junk_filters_are_a_chinese_error_not_a_500(console_as, stocked):
    client = console_as("赵经理")
    for query in ("site_id=abc", "site_id=-1", "expiring=99999999", "expiring=1e3", "after=1-x", "item_id=1.5"):
        response = client.get(f"/console/stock?{query}")
        assert response.status_code == 422, query
        assert "VALIDATION_ERROR" in response.get_data(as_text=True)


def test_pages_of_fifty_with_a_more_link(console_as, session_factory, demo, actors, monkeypatch):
    from models.queries import stock_list

    monkeypatch.setattr(stock_list, "PAGE_SIZE", 1)
    stock_demo(session_factory, demo, actors)
    client = console_as("赵经理")
    first = _text(client.get("/console/stock"))
    more = re.search(r'href="(/console/stock\?after=[^"]+)"', first)
    assert more and "更多" in first
    second = _text(client.get(more.group(1).replace("&amp;", "&")))
    assert ("<td>总仓</td>" in second) != ("<td>总仓</td>" in first)


def test_a_clerk_sees_only_the_stock_of_her_site(console_as, demo, stocked):
    page = _text(console_as("小周").get("/console/stock"))
    assert "<td>绍兴收购点</td>" in page and "总仓" not in page
    assert console_as("小周").get(f"/console/stock?site_id={demo.sites['ZC']}").status_code == 403


def test_export_is_the_filtered_list_by_lot(console_as, stocked):
    response = console_as("赵经理").get("/console/stock/export.xlsx?held=1")
    assert response.status_code == 200 and response.mimetype.endswith("spreadsheetml.sheet")
    sheet = load_workbook(io.BytesIO(response.data)).active
    values = [[c for c in r] for r in sheet.iter_rows(values_only=True)]
    lots = [r for r in values if r and r[3] == stocked.li_code]
    assert len(lots) == 1 and lots[0][4] == "李大伯" and lots[0][9] == "冷库温度超标" and lots[0][10] == 10
    assert not any(r and r[0] == "总仓" for r in values)  # 总仓 holds nothing frozen: not exported


# --- value and slow movers -----------------------------------------------------------------------

def test_value_by_site_and_slow_movers(console_as, stocked):
    client = console_as("赵经理")
    page = _text(client.get("/console/stock/value"))
    assert 'data-chart="stock-value-chart"' in page and "echarts.min.js" in page and "合计" in page
    assert "绍兴收购点" in page and "总仓" in page
    # Everything moved today or arrived today: nothing is slow for 30 days.
    assert "没有呆滞库存" in page
    assert client.get("/console/stock/value?days=0").status_code == 422
    assert client.get("/console/stock/value?days=abc").status_code == 422


# --- the lot page ------------------------------------------------------------------------------

def test_lot_page_traces_farmer_to_customer(console_as, stocked):
    page = _text(console_as("赵经理").get(f"/console/stock/lots/{stocked.wang_lot}"))
    assert stocked.wang_code in page and "王阿姨" in page and "一级" in page
    assert stocked.wang_receipt in page and stocked.shipment in page and stocked.transfer in page
    assert "入库单" in page and "出库单" in page and "调拨单" in page and "已过账" in page
    assert "杭州茶城：5 公斤" in page
    assert "/console/documents/" in page
    assert "receipt" not in page and "posted" not in page  # Chinese only on screen


def test_another_orgs_lot_is_not_found(console_as, other_org):
    _other, got = other_org
    response = console_as("赵经理").get(f"/console/stock/lots/{got.lot_id}")
    assert response.status_code == 404 and "外社" not in response.get_data(as_text=True)


def test_record_qc_fail_freezes_the_lot_and_shows_it_held(console_as, session_factory, stocked):
    client = console_as("赵经理")
    path = f"/console/stock/lots/{stocked.wang_lot}"
    key = _request_id(_text(client.get(path)), f"{path}/qc")
    response = post(client, f"{path}/qc", {"result": "fail", "note": "农残超标", "request_id": key}, page=path)
    assert response.status_code == 303
    assert _lot(session_factory, stocked.wang_lot).qc_status == QcStatus.FAILED
    page = _text(client.get(path))
    assert "质检已记录：不合格" in page and "农残超标" in page and "质检扣留" in page
    assert "质检冻结须复检合格才能解除" in page
    # The double submit replays the first answer: still one QC freeze, one audit row.
    post(client, f"{path}/qc", {"result": "fail", "note": "农残超标", "request_id": key}, page=path)
    with session_factory() as s:
        assert len(s.scalars(select(Freeze).where(Freeze.lot_id == stocked.wang_lot,
                                                  Freeze.reason.startswith("质检不合格"))).all()) == 1
        assert len(s.scalars(select(AuditEntry).where(AuditEntry.entity == "lot",
                                                      AuditEntry.entity_id == str(stocked.wang_lot))).all()) == 1
    held = _text(client.get("/console/stock?held=1"))
    assert stocked.wang_code in held


def test_freeze_and_lift_with_reasons(console_as, session_factory, demo, stocked):
    client = console_as("赵经理")
    path = f"/console/stock/lots/{stocked.wang_lot}"
    page = _text(client.get(path))
    response = post(client, f"{path}/freeze", {
        "item_id": demo.items["茶青"], "site_id": demo.sites["ZC"], "direction": "outbound", "reason": "包装破损",
        "request_id": _request_id(page, f"{path}/freeze")}, page=path)
    assert response.status_code == 303
    with session_factory() as s:
        freeze = s.scalars(select(Freeze).where(Freeze.lot_id == stocked.wang_lot, Freeze.active.is_(True))).one()
    page = _text(client.get(path))
    assert "包装破损" in page and "冻结中" in page
    lift = f"/console/stock/freezes/{freeze.id}/lift"
    response = post(client, lift, {"reason": "已换包装", "request_id": _request_id(page, lift), "next": path},
                    page=path)
    assert response.status_code == 303 and response.headers["Location"] == path
    page = _text(client.get(path))
    assert "已解除" in page and "已换包装" in page and "赵经理" in page


def test_refused_actions_write_nothing(console_as, engine, demo, stocked):
    clerk = console_as("小周")
    path = f"/console/stock/lots/{stocked.li_lot}"
    page = _text(clerk.get(path))
    assert "记录质检" not in page and "解除冻结" not in page  # no buttons she cannot use
    before = rows(engine)
    key = uuid.uuid4().hex
    post(clerk, f"{path}/qc", {"result": "fail", "note": "x", "request_id": key}, page=path)
    post(clerk, f"/console/stock/freezes/{stocked.freeze_id}/lift", {"reason": "放行", "request_id": key}, page=path)
    post(clerk, f"{path}/freeze", {"item_id": demo.items["茶青"], "site_id": demo.sites["SX"],
                                   "direction": "both", "reason": "x", "request_id": key}, page=path)
    assert rows(engine) == before
    flashed = _text(clerk.get(path))
    assert "没有权限" in flashed


def test_a_row_lists_its_first_lots_and_links_to_all(console_as, demo, stocked, monkeypatch):
    from console import stock as stock_pages

    monkeypatch.setattr(stock_pages, "LOTS_SHOWN", 1)
    client = console_as("赵经理")
    page = _text(client.get(f"/console/stock?site_id={demo.sites['SX']}"))
    assert "全部 2 个批次" in page and (stocked.wang_code in page) != (stocked.li_code in page)
    full = _text(client.get(f"/console/stock?site_id={demo.sites['SX']}&item_id={demo.items['茶青']}"))
    assert stocked.wang_code in full and stocked.li_code in full and "全部 2 个批次" not in full
