"""/api/v1/exports for the books, margin, VAT and the cash forecast: each file holds the figures its
JSON route gives, for the same arguments."""

from __future__ import annotations

import io
from datetime import datetime, time, timedelta
from decimal import Decimal as D
from urllib.parse import unquote

from openpyxl import load_workbook

from models.actor import Actor
from models.base import utcnow
from models.operations.money import RecordMoney, receive_money
from models.timeutil import SHANGHAI, local_date, period_of
from models.uow import run
from tests.factories import receive, ship
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client  # noqa: F401

NOV = "202611"
ORG = "龙井山茶叶专业合作社"


def _november(session_factory, demo):
    receive(session_factory, demo, 100, business_time=datetime(2026, 11, 3, 9, tzinfo=SHANGHAI))
    ship(session_factory, demo, 30, unit_price=100, business_time=datetime(2026, 11, 10, 9, tzinfo=SHANGHAI))


def _filename(response) -> str:
    header = response.headers["Content-Disposition"]
    assert 'filename="' in header  # the ASCII fallback
    return unquote(header.split("filename*=UTF-8''", 1)[1])


def _get(client, url, headers, name: str, sheets: int = 1):
    r = client.get(url, headers=headers)
    assert r.status_code == 200, (url, r.get_json())
    assert r.mimetype.endswith("spreadsheetml.sheet") and r.headers["Cache-Control"] == "no-store"
    assert _filename(r) == name, _filename(r)
    book = load_workbook(io.BytesIO(r.data))
    assert len(book.worksheets) == sheets
    return [list(ws.iter_rows(values_only=True)) for ws in book.worksheets]


def _money(value) -> D:
    return D(str(value)).quantize(D("0.01"))


def test_the_trial_balance_balance_sheet_and_income_statement_as_excel(client, demo, session_factory, as_):
    _november(session_factory, demo)
    wu = as_("吴会计")
    [rows] = _get(client, f"/api/v1/exports/trial-balance.xlsx?period={NOV}", wu, f"科目余额表_{NOV}.xlsx")
    tb = client.get(f"/api/v1/books/trial-balance?period={NOV}", headers=wu).get_json()
    assert rows[0][0] == f"{ORG} · 科目余额表" and rows[2][:3] == ("科目编码", "科目名称", "期初借方")
    by_code = {r[0]: r for r in rows[3:-2]}
    assert set(by_code) == {r["code"] for r in tb["rows"]}
    receivable = next(r for r in tb["rows"] if r["code"] == "1122")
    assert _money(by_code["1122"][4]) == D(receivable["debit"]) and by_code["1122"][1] == receivable["name"]
    totals = rows[-2]
    assert totals[0] == "合计" and _money(totals[4]) == _money(totals[5]) == D(tb["totals"]["debit"])
    assert rows[-1][0] == "借贷：平衡"

    [rows] = _get(client, f"/api/v1/exports/balance-sheet.xlsx?period={NOV}", wu, f"资产负债表_{NOV}.xlsx")
    sheet = client.get(f"/api/v1/books/balance-sheet?period={NOV}", headers=wu).get_json()
    assert rows[2][0] == "资产" and rows[2][4] == "负债和所有者权益（或股东权益）"
    total = next(r for r in rows if r[0] == "资产总计")
    assert total[1] == 30 and _money(total[2]) == D(sheet["total_assets"])
    right = next(r for r in rows if r[4] == "负债和所有者权益（或股东权益）总计")
    assert right[5] == 53 and _money(right[6]) == D(sheet["total_liabilities_and_equity"])

    [rows] = _get(client, f"/api/v1/exports/income-statement.xlsx?period={NOV}", wu, f"利润表_{NOV}.xlsx")
    income = client.get(f"/api/v1/books/income-statement?period={NOV}", headers=wu).get_json()
    assert list(rows[2]) == ["项目", "行次", "本期金额", "本年累计金额"]
    assert rows[3][:3] == ("一、营业收入", 1, 3000)
    net = next(r for r in rows if r[1] == 13)
    assert (_money(net[2]), _money(net[3])) == (D(income["net_profit"]), D(income["net_profit_ytd"]))


def test_the_period_defaults_to_this_month(client, demo, as_):
    this = period_of(utcnow())
    [rows] = _get(client, "/api/v1/exports/trial-balance.xlsx", as_("吴会计"), f"科目余额表_{this}.xlsx")
    assert rows[-2][0] == "合计"  # an empty month: the header, the totals (zero) and the check


def test_the_margin_rollup_as_excel(client, demo, session_factory, as_):
    receive(session_factory, demo, 10)
    ship(session_factory, demo, 2, unit_price=100)
    today = local_date(utcnow())
    start = today.replace(day=1)
    span = f"{start:%Y%m%d}-{today:%Y%m%d}"
    for group, head in (("customer", "客户"), ("item", "商品"), ("site", "地点"), ("month", "月份")):
        [rows] = _get(client, f"/api/v1/exports/margin.xlsx?group_by={group}", as_("吴会计"),
                      f"订单毛利_按{head}_{span}.xlsx")
        assert list(rows[2]) == [head, "收入", "成本", "费用", "毛利", "毛利率(%)"]
    body = client.get("/api/v1/margin/rollup", headers=as_("吴会计")).get_json()
    [rows] = _get(client, "/api/v1/exports/margin.xlsx", as_("吴会计"), f"订单毛利_按客户_{span}.xlsx")
    assert rows[3][0] == "杭州茶城" and (_money(rows[3][1]), _money(rows[3][4])) == (
        D(body["rows"][0]["figures"]["revenue"]), D(body["rows"][0]["figures"]["margin"]))
    assert rows[4][0] == "合计" and D(str(rows[4][5])) == D(body["totals"]["margin_pct"])
    ranged = f"/api/v1/exports/margin.xlsx?group_by=item&date_from={start}&date_to={today}"
    assert _get(client, ranged, as_("吴会计"), f"订单毛利_按商品_{span}.xlsx")[0][3][0] == "茶青"


def test_the_vat_summary_as_excel(client, demo, session_factory, as_):
    receive(session_factory, demo, 10)
    ship(session_factory, demo, 2, unit_price=100)
    period = period_of(utcnow())
    by_rate, documents = _get(client, f"/api/v1/exports/vat-summary.xlsx?period={period}", as_("吴会计"),
                              f"增值税汇总_{period}.xlsx", sheets=2)
    body = client.get(f"/api/v1/finance/vat-summary?period={period}", headers=as_("吴会计")).get_json()
    assert list(by_rate[2]) == ["税率", "销售额", "销项税额", "采购额", "进项税额"]
    totals = next(r for r in by_rate if r[0] == "合计")
    assert (_money(totals[1]), _money(totals[2])) == (D(body["sales"]), D(body["output_tax"]))
    assert any(str(r[0]).startswith("应纳税额") for r in by_rate)
    numbers = {r[1] for r in documents[3:]}
    assert numbers == {d["number"] for d in body["documents"]} and len(numbers) == 2


def test_the_cash_forecast_as_excel(client, demo, session_factory, as_):
    run(session_factory, receive_money, Actor.system_actor(demo.org_id),
        RecordMoney(demo.parties["杭州茶城"], D(300), via="cash", matches=()))
    yesterday = datetime.combine(local_date(utcnow()) - timedelta(days=1), time(12), SHANGHAI)
    receive(session_factory, demo, 10, business_time=yesterday)  # 王阿姨's prepayment, 560, already due
    r = client.get("/api/v1/exports/cash-forecast.xlsx?hours=6", headers=as_("吴会计"))
    assert r.status_code == 200 and _filename(r).startswith("现金预测_6小时_")
    assert r.headers["Content-Disposition"].startswith('attachment; filename="cash_forecast_6h_')
    book = load_workbook(io.BytesIO(r.data))
    hours, items = (list(ws.iter_rows(values_only=True)) for ws in book.worksheets)
    # title, subtitle, header; six hours; totals; two lines under (no minimum is set)
    assert list(hours[2]) == ["时间", "流入", "流出", "余额"] and len(hours) == 3 + 6 + 1 + 2
    assert isinstance(hours[3][0], datetime) and hours[3][2] == 560 and hours[3][3] == -260
    assert hours[9] == ("合计 / 期末余额", 0, 560, -260)
    assert items[3][1:6] == ("农户货款", "流出", items[3][3], "王阿姨", 560) and items[3][3].startswith("RK-")
    assert len(list(load_workbook(io.BytesIO(client.get("/api/v1/exports/cash-forecast.xlsx", headers=as_(
        "吴会计")).data)).worksheets[0].iter_rows())) == 3 + 72 + 1 + 2  # 72 hours by default


def test_the_new_routes_are_in_the_openapi_spec(client):
    paths = client.get("/openapi/openapi.json").get_json()["paths"]
    for name, params in (("trial-balance", {"period"}), ("balance-sheet", {"period"}),
                         ("income-statement", {"period"}), ("margin", {"group_by", "date_from", "date_to"}),
                         ("vat-summary", {"period"}), ("cash-forecast", {"hours"})):
        path = f"/api/v1/exports/{name}.xlsx"
        assert path in paths, path
        assert any("spreadsheetml" in k for k in paths[path]["get"]["responses"]["200"]["content"]), path
        assert {p["name"] for p in paths[path]["get"]["parameters"]} == params, path
