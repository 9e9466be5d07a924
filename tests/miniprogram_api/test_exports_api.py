"""/api/v1/exports and /api/v1/print: the files the finance office downloads and prints."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from urllib.parse import unquote

from openpyxl import load_workbook
from pypdf import PdfReader
from sqlalchemy import select

from models.base import utcnow
from models.finance import Voucher
from models.timeutil import local_date
from tests.factories import receive, ship
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client  # noqa: F401


def _sales(session_factory, demo):
    receive(session_factory, demo, 50)
    now = utcnow()
    return [ship(session_factory, demo, 1, unit_price=price, business_time=now - timedelta(days=days))
            for price, days in (("300.10", 40), (200, 1))]


def _range():
    today = local_date(utcnow())
    return (today - timedelta(days=60)).isoformat(), today.isoformat()


def _filename(response) -> str:
    header = response.headers["Content-Disposition"]
    assert 'filename="' in header  # the ASCII fallback
    return unquote(header.split("filename*=UTF-8''", 1)[1])


def test_the_accountant_downloads_aging_and_the_voucher_list(client, demo, session_factory, as_):
    _sales(session_factory, demo)
    r = client.get("/api/v1/exports/aging.xlsx?side=receivable", headers=as_("吴会计"))
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    assert _filename(r).startswith("应收账龄_") and r.headers["Cache-Control"] == "no-store"
    assert r.headers["Content-Disposition"].startswith('attachment; filename="aging_receivable_')
    rows = list(load_workbook(io.BytesIO(r.data)).active.iter_rows(values_only=True))
    assert rows[0][0] == "龙井山茶叶专业合作社 · 应收账款账龄表"
    customer = next(row for row in rows if row[0] == "杭州茶城")
    assert customer[-1] == 500.1 and rows[-2][0] == "合计"

    start, end = _range()
    r = client.get(f"/api/v1/exports/vouchers.xlsx?from={start}&to={end}", headers=as_("吴会计"))
    assert r.status_code == 200, r.get_json()
    ws = load_workbook(io.BytesIO(r.data)).active
    rows = list(ws.iter_rows(values_only=True))
    assert rows[2][:8] == ("凭证日期", "凭证字", "凭证号", "摘要", "科目编码", "科目名称", "借方金额", "贷方金额")
    body = rows[3:-1]
    assert {r[4] for r in body} >= {"1122", "6001"} and all(isinstance(r[6], int | float) for r in body)
    assert rows[-1][0] == "合计" and rows[-1][6] == rows[-1][7] == sum(r[6] for r in body)
    receivable = [r for r in body if r[4] == "1122"]
    assert sorted(r[6] for r in receivable) == [200, 300.1] and {r[8] for r in receivable} == {"杭州茶城"}


def test_the_voucher_export_in_yonyou_and_kingdee_layouts(client, demo, session_factory, as_):
    _sales(session_factory, demo)
    start, end = _range()
    r = client.get(f"/api/v1/exports/vouchers.csv?from={start}&to={end}&layout=yonyou_t3", headers=as_("吴会计"))
    assert r.status_code == 200 and r.headers["Content-Type"] == "text/csv; charset=gb18030"
    assert _filename(r).endswith(".csv")
    rows = list(csv.reader(io.StringIO(r.data.decode("gbk"))))
    assert rows[0] == ["制单日期", "凭证类别字", "凭证号", "附单据数", "摘要", "科目编码", "借方金额", "贷方金额"]
    assert {row[5] for row in rows[1:]} >= {"1122", "6001"} and "300.10" in {row[6] for row in rows[1:]}
    r = client.get(f"/api/v1/exports/vouchers.xlsx?from={start}&to={end}&layout=kingdee_kis", headers=as_("吴会计"))
    ws = load_workbook(io.BytesIO(r.data)).active
    assert [c.value for c in ws[1]][:6] == ["日期", "凭证字", "凭证号", "附单据数", "摘要", "科目代码"]


def test_statement_and_open_items_as_excel_and_the_statement_as_pdf(client, demo, session_factory, as_):
    _sales(session_factory, demo)
    customer = demo.parties["杭州茶城"]
    start, end = _range()
    r = client.get(f"/api/v1/exports/statement.xlsx?party_id={customer}&date_from={start}&date_to={end}",
                   headers=as_("吴会计"))
    assert r.status_code == 200 and _filename(r).startswith("对账单_杭州茶城_")
    rows = list(load_workbook(io.BytesIO(r.data)).active.iter_rows(values_only=True))
    assert rows[-1][-1] == 500.1
    r = client.get(f"/api/v1/exports/open-items.xlsx?party_id={customer}", headers=as_("吴会计"))
    assert r.status_code == 200 and len(list(load_workbook(io.BytesIO(r.data)).active.iter_rows())) == 3 + 2 + 2
    r = client.get(f"/api/v1/print/statement.pdf?party_id={customer}&date_from={start}&date_to={end}",
                   headers=as_("吴会计"))
    assert r.status_code == 200 and r.mimetype == "application/pdf" and r.data.startswith(b"%PDF")
    assert r.headers["Content-Disposition"].startswith("inline;")
    text = PdfReader(io.BytesIO(r.data)).pages[0].extract_text()
    assert "杭州茶城" in text and "伍佰元壹角" in text


def test_a_voucher_and_a_shipment_print(client, demo, session_factory, as_):
    old, _ = _sales(session_factory, demo)
    with session_factory() as s:
        voucher = s.scalar(select(Voucher).where(Voucher.document_id == old.document_id))
        voucher_id, number = voucher.id, voucher.number
    r = client.get(f"/api/v1/print/vouchers/{voucher_id}.pdf", headers=as_("吴会计"))
    assert r.status_code == 200 and _filename(r) == f"记账凭证_{number}.pdf"
    text = PdfReader(io.BytesIO(r.data)).pages[0].extract_text()
    assert "记 账 凭 证" in text and "杭州茶城" in text and "应收账款" in text and "300.10" in text
    assert "叁佰捌拾元壹角" in text  # the receivable and the cost of goods: 300.10 + 80.00 on each side

    # 老孙 keeps the 总仓 the goods left from: he prints the 送货单; so does finance.
    for who in ("老孙", "吴会计"):
        r = client.get(f"/api/v1/print/shipments/{old.document_id}.pdf", headers=as_(who))
        assert r.status_code == 200, (who, r.get_json())
    text = PdfReader(io.BytesIO(r.data)).pages[0].extract_text()
    assert old.number in text and "杭州茶城" in text and "叁佰元壹角" in text and "总仓" in text


def test_a_farmer_prints_her_own_delivery_note(client, demo, session_factory, as_):
    receipt = receive(session_factory, demo, "23.5")
    r = client.get(f"/api/v1/print/delivery-notes/{receipt.document_id}.pdf", headers=as_("王阿姨"))
    assert r.status_code == 200, r.get_json()
    text = PdfReader(io.BytesIO(r.data)).pages[0].extract_text()
    assert "交 货 单" in text and "王阿姨" in text and "壹仟捌佰捌拾元整" in text


def test_the_routes_are_in_the_openapi_spec(client):
    paths = client.get("/openapi/openapi.json").get_json()["paths"]
    for path, mime in (("/api/v1/exports/aging.xlsx", "spreadsheetml"), ("/api/v1/exports/vouchers.csv", "text/csv"),
                       ("/api/v1/print/vouchers/{voucher_id}.pdf", "application/pdf"),
                       ("/api/v1/print/shipments/{document_id}.pdf", "application/pdf"),
                       ("/api/v1/print/statement.pdf", "application/pdf")):
        assert path in paths, path
        assert any(mime in k for k in paths[path]["get"]["responses"]["200"]["content"]), path
    names = {p["name"] for p in paths["/api/v1/exports/vouchers.xlsx"]["get"]["parameters"]}
    assert {"from", "to", "layout"} <= names


def test_bad_input_is_a_clear_error(client, demo, as_):
    for url in ("/api/v1/exports/vouchers.xlsx?from=2026-12-05&to=2026-11-01",
                "/api/v1/exports/vouchers.xlsx?from=2020-01-01&to=2026-11-01",
                "/api/v1/exports/vouchers.xlsx?from=2026-11-01&to=2026-11-30&layout=sap",
                "/api/v1/exports/vouchers.csv?from=2026-11-01&to=2026-11-30&encoding=latin-1",
                "/api/v1/exports/vouchers.xlsx?to=2026-11-30",
                "/api/v1/exports/aging.xlsx?as_of=someday"):
        r = client.get(url, headers=as_("吴会计"))
        assert r.status_code == 422, (url, r.status_code)
