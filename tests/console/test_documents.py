"""单据: the list, its filters and pages, a document's page, the desk forms, reversal, export and print."""

from __future__ import annotations

import io
import re
import uuid
from decimal import Decimal

from openpyxl import load_workbook
from sqlalchemy import func, select

from models.demo import seed_demo
from models.documents import DocKind, DocStatus, Document
from models.operations.transfers import RequestTransfer, TransferLineIn, request_transfer
from models.uow import run
from tests.console.conftest import post
from tests.miniprogram_api.fixtures_3b import receive


def _transfer(session_factory, demo, actors, qty: str = "5") -> int:
    return run(session_factory, request_transfer, actors["老孙"], RequestTransfer(
        demo.sites["ZC"], demo.sites["MD"], (TransferLineIn(demo.items["龙井"], Decimal(qty)),),
        reason="门店补货")).document_id


def _count(session_factory, org_id: int, kind: DocKind | None = None) -> int:
    with session_factory() as s:
        stmt = select(func.count()).select_from(Document).where(Document.org_id == org_id)
        if kind is not None:
            stmt = stmt.where(Document.kind == kind)
        return s.scalar(stmt) or 0


def test_list_shows_this_orgs_documents_in_chinese_and_filters(console_as, demo, actors, session_factory):
    receipt = receive(session_factory, demo, actors, qty="20")
    transfer = _transfer(session_factory, demo, actors)
    other = run(session_factory, seed_demo, f"o-{uuid.uuid4().hex[:10]}")
    with session_factory() as s:
        other_number = s.scalar(select(Document.number).where(Document.org_id == other.org_id)) or "无"
    client = console_as("赵经理")
    page = client.get("/console/documents").get_data(as_text=True)
    assert receipt.number in page and "入库单" in page and "已过账" in page
    assert "调拨单" in page and "待审批" in page
    assert "posted" not in page.split("<main")[1].split("<form")[0]
    assert other_number not in page
    only_transfers = client.get("/console/documents?kind=transfer").get_data(as_text=True)
    assert receipt.number not in only_transfers and f"/console/documents/{transfer}" in only_transfers
    by_number = client.get("/console/documents?q=rk-sx").get_data(as_text=True)
    assert receipt.number in by_number and f"/console/documents/{transfer}\"" not in by_number
    by_status = client.get("/console/documents?status=requested").get_data(as_text=True)
    assert receipt.number not in by_status


def test_list_pages_by_keyset_with_a_more_link(console_as, demo, actors, session_factory):
    for _ in range(3):
        _transfer(session_factory, demo, actors)
    with session_factory() as s:
        ids = sorted(s.scalars(select(Document.id).where(Document.org_id == demo.org_id)), reverse=True)
    from models.queries.document_list import DocumentFilter, document_list
    with session_factory() as s:
        first = document_list(s, actors["赵经理"], DocumentFilter(), limit=2)
        second = document_list(s, actors["赵经理"], DocumentFilter(), after=first.next_after, limit=2)
    assert [r.id for r in first.rows] == ids[:2] and [r.id for r in second.rows] == ids[2:3]
    assert second.next_after is None


def test_junk_filters_answer_422_in_chinese(console_as):
    client = console_as("赵经理")
    for query in ("kind=bogus", "site=abc", "from=2026-13-40", "from=2026-12-05&to=2026-12-01", "after=-1"):
        response = client.get(f"/console/documents?{query}")
        assert response.status_code == 422, query
        assert re.search(r"无效|格式|不能晚于", response.get_data(as_text=True)), query


def test_clerk_sees_only_documents_of_her_site(console_as, demo, actors, session_factory):
    receipt = receive(session_factory, demo, actors, qty="10")  # at SX, 小周's site
    transfer = _transfer(session_factory, demo, actors)  # ZC → MD
    page = console_as("小周").get("/console/documents").get_data(as_text=True)
    assert receipt.number in page and f"/console/documents/{transfer}" not in page
    assert console_as("小周").get(f"/console/documents/{transfer}").status_code == 404


def test_detail_shows_lines_moves_voucher_and_trail(console_as, demo, actors, session_factory):
    receipt = receive(session_factory, demo, actors, qty="20")
    page = console_as("吴会计").get(f"/console/documents/{receipt.document_id}").get_data(as_text=True)
    assert receipt.number in page and "茶青" in page and "20 公斤" in page
    assert "绍兴收购点" in page and "王阿姨" in page
    assert "借方" in page and "合计" in page  # the voucher with its lines (finance may see them)
    assert "入库过账" in page  # the trail
    assert "/vouchers/" in page and ".pdf" in page
    manager = console_as("赵经理").get(f"/console/documents/{receipt.document_id}").get_data(as_text=True)
    assert "查看分录需" in manager and "借方" not in manager
    assert "冲销此单" in manager


def test_transfer_detail_shows_its_approval_waiting(console_as, demo, actors, session_factory):
    transfer = _transfer(session_factory, demo, actors)
    page = console_as("赵经理").get(f"/console/documents/{transfer}").get_data(as_text=True)
    assert "审批中" in page and "第 1 级 · 主管：<strong>待审批</strong>" in page
    assert "申请调拨" in page and "老孙" in page


def test_create_transfer_from_the_form_once_even_if_posted_twice(console_as, demo, session_factory):
    client = console_as("赵经理")
    form = client.get("/console/documents/new/transfer").get_data(as_text=True)
    request_id = re.search(r'name="request_id" value="([^"]+)"', form).group(1)
    data = {"request_id": request_id, "from_site": demo.sites["ZC"], "to_site": demo.sites["MD"],
            "item_0": demo.items["龙井"], "qty_0": "2", "unit_0": "箱", "note": "节前备货"}
    before = _count(session_factory, demo.org_id, DocKind.TRANSFER)
    first = post(client, "/console/documents/new/transfer", data, page="/console/documents/new/transfer")
    second = post(client, "/console/documents/new/transfer", data, page="/console/documents/new/transfer")
    assert first.status_code == second.status_code == 303
    assert first.headers["Location"] == second.headers["Location"]
    assert _count(session_factory, demo.org_id, DocKind.TRANSFER) == before + 1
    page = client.get(first.headers["Location"]).get_data(as_text=True)
    assert "40 罐" in page and "2 箱" in page and "待审批" in page


def test_create_orders_count_and_shipment(console_as, demo, actors, session_factory):
    receive(session_factory, demo, actors, qty="30")
    client = console_as("钱总监")
    new = "/console/documents/new/"

    def submit(kind, data):
        return post(client, new + kind, {"request_id": str(uuid.uuid4()), **data}, page=new + kind)

    po = submit("purchase_order", {"site": demo.sites["ZC"], "party": demo.parties["包装厂"],
                                   "item_0": demo.items["龙井"], "qty_0": "10", "price_0": "50"})
    assert po.status_code == 303, po.get_data(as_text=True)
    count = submit("count", {"site": demo.sites["SX"], "item_0": demo.items["茶青"], "qty_0": "58", "unit_0": "斤"})
    assert count.status_code == 303
    assert "29 公斤" in client.get(count.headers["Location"]).get_data(as_text=True)
    so = submit("sales_order", {"site": demo.sites["SX"], "party": demo.parties["杭州茶城"],
                                "item_0": demo.items["茶青"], "qty_0": "5", "price_0": "150"})
    assert so.status_code == 303, so.get_data(as_text=True)
    order_id = int(so.headers["Location"].rsplit("/", 1)[1])
    ship = submit("shipment", {"site": demo.sites["SX"], "order": order_id, "item_0": demo.items["茶青"],
                               "qty_0": "5"})
    assert ship.status_code == 303, ship.get_data(as_text=True)
    page = client.get(ship.headers["Location"]).get_data(as_text=True)
    assert "¥150.00" in page and "杭州茶城" in page and "打印送货单" in page
    pdf = client.get(ship.headers["Location"] + "/shipment.pdf")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF")


def test_sales_order_margin_preview_writes_nothing(console_as, demo, actors, session_factory):
    receive(session_factory, demo, actors, qty="30")
    client = console_as("赵经理")
    before = _count(session_factory, demo.org_id)
    response = post(client, "/console/documents/new/sales_order", {
        "action": "preview", "request_id": str(uuid.uuid4()), "site": demo.sites["SX"],
        "party": demo.parties["杭州茶城"], "item_0": demo.items["茶青"], "qty_0": "5", "price_0": "150"},
        page="/console/documents/new/sales_order")
    body = response.get_data(as_text=True)
    assert response.status_code == 200 and "毛利预览" in body and "¥750.00" in body
    assert _count(session_factory, demo.org_id) == before


def test_unknown_unit_gives_the_operations_chinese_error(console_as, demo, session_factory):
    client = console_as("赵经理")
    before = _count(session_factory, demo.org_id)
    response = post(client, "/console/documents/new/transfer", {
        "request_id": str(uuid.uuid4()), "from_site": demo.sites["ZC"], "to_site": demo.sites["MD"],
        "item_0": demo.items["龙井"], "qty_0": "2", "unit_0": "桶"}, page="/console/documents/new/transfer")
    body = response.get_data(as_text=True)
    assert response.status_code == 422 and "不认识单位" in body
    assert 'value="桶"' in body  # the form comes back as typed
    assert _count(session_factory, demo.org_id) == before


def test_reverse_a_receipt_with_a_reason(console_as, demo, actors, session_factory):
    receipt = receive(session_factory, demo, actors, qty="20")
    client = console_as("赵经理")
    path = f"/console/documents/{receipt.document_id}"
    response = post(client, path + "/reverse", {"reason": "重量录错", "request_id": str(uuid.uuid4())}, page=path)
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert f"冲销 {receipt.number}：重量录错" in page and "-20 公斤" in page
    original = client.get(path).get_data(as_text=True)
    assert "已冲销" in original and "冲销此单" not in original
    assert "被冲销（冲销单" in original and "赵经理 · 重量录错" in original  # the original's trail names it
    with session_factory() as s:
        assert s.get(Document, receipt.document_id).status == DocStatus.REVERSED


def test_export_is_the_filtered_list(console_as, demo, actors, session_factory):
    receipt = receive(session_factory, demo, actors, qty="20")
    _transfer(session_factory, demo, actors)
    response = console_as("赵经理").get("/console/documents/export.xlsx?kind=receipt")
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.data)).active
    values = [c for row in sheet.iter_rows(values_only=True) for c in row if c]
    assert receipt.number in values and "入库单" in values and "调拨单" not in values


def test_transfer_steps_from_its_page(console_as, demo, actors, session_factory, engine):
    from models.operations import ReceiveGoods, receive_goods
    from models.operations.transfers import DecideTransfer, decide_transfer
    from tests.security.conftest import rows

    run(session_factory, receive_goods, actors["钱总监"], ReceiveGoods(
        site_id=demo.sites["ZC"], item_id=demo.items["龙井"], quantity=Decimal(50), party_id=demo.parties["包装厂"]))
    transfer = _transfer(session_factory, demo, actors)
    path = f"/console/documents/{transfer}"
    clerk = console_as("小周")  # no transfer permission at ZC or MD
    before = rows(engine)
    post(clerk, path + "/transfer/cancel", {"request_id": str(uuid.uuid4())}, page="/console/documents")
    assert rows(engine) == before
    run(session_factory, decide_transfer, actors["赵经理"], DecideTransfer(transfer, True))
    keeper = console_as("老孙")
    page = keeper.get(path).get_data(as_text=True)
    assert "确认发货" in page
    request_id = re.search(r'name="request_id" value="([^"]+)"', page).group(1)
    first = post(keeper, path + "/transfer/dispatch", {"request_id": request_id}, page=path)
    after = rows(engine)
    post(keeper, path + "/transfer/dispatch", {"request_id": request_id}, page=path)  # a double click
    assert rows(engine) == after
    page = keeper.get(first.headers["Location"]).get_data(as_text=True)
    assert "在途" in page and "确认收货" in page
    post(keeper, path + "/transfer/receive", {"request_id": str(uuid.uuid4())}, page=path)
    assert "已收货" in keeper.get(path).get_data(as_text=True)
    assert keeper.post(path + "/transfer/explode", data={}).status_code == 400  # no CSRF token
