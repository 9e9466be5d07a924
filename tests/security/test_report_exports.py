"""Attacks on the report exports (科目余额表, 资产负债表, 利润表, 订单毛利, 增值税汇总, 现金预测): a member
without 查看财务, another org's figures, bad periods and absurd arguments. Each is refused, reveals
nothing and writes nothing. (Reads only: there is no write to replay.)"""

from __future__ import annotations

import io
import uuid

import pytest
from openpyxl import load_workbook

from models.base import utcnow
from models.demo import seed_demo
from models.timeutil import period_of
from models.uow import run
from tests.factories import receive, ship
from tests.security.conftest import assert_refused, rows

REPORTS = ("/api/v1/exports/trial-balance.xlsx", "/api/v1/exports/balance-sheet.xlsx",
           "/api/v1/exports/income-statement.xlsx", "/api/v1/exports/margin.xlsx",
           "/api/v1/exports/vat-summary.xlsx", "/api/v1/exports/cash-forecast.xlsx")


def _sell(session_factory, demo, price):
    receive(session_factory, demo, 10)
    ship(session_factory, demo, 1, unit_price=price)


@pytest.mark.parametrize("who", ["王阿姨", "小周", "老孙", "赵经理"])
def test_members_without_the_finance_permission_get_no_report(client, demo, as_, engine, who):
    before = rows(engine)
    for url in REPORTS:
        assert_refused(client.get(url, headers=as_(who)), 403, "PERMISSION_DENIED", "查看财务")
    assert rows(engine) == before


def test_their_figures_never_appear_in_our_reports(client, demo, session_factory, as_, engine):
    other = run(session_factory, seed_demo, f"x-{uuid.uuid4().hex[:8]}")
    _sell(session_factory, other, 777)
    _sell(session_factory, demo, 500)
    before = rows(engine)
    for url in REPORTS:
        r = client.get(url, headers=as_("吴会计"))
        assert r.status_code == 200, (url, r.get_json())
        values = {c for ws in load_workbook(io.BytesIO(r.data)).worksheets
                  for row in ws.iter_rows(values_only=True) for c in row}
        assert 777 not in values and not any("777" in v for v in values if isinstance(v, str)), url
        if "margin" in url or "vat" in url:
            assert 500 in values, url  # our own sale is there
    assert rows(engine) == before


@pytest.mark.parametrize("url", [
    *(f"{report}?period={bad}" for report in REPORTS[:3]
      for bad in ("202613", "202600", "1999-01", "2026", "abcdef", "190001", "99999912")),
    "/api/v1/exports/vat-summary.xlsx?period=202613", "/api/v1/exports/vat-summary.xlsx?period=2026-11",
    "/api/v1/exports/vat-summary.xlsx?period=20261",
    "/api/v1/exports/margin.xlsx?group_by=weather",
    "/api/v1/exports/margin.xlsx?date_from=2026-12-05&date_to=2026-11-01",
    "/api/v1/exports/margin.xlsx?date_from=2000-01-01&date_to=2026-11-01",  # more than three years
    "/api/v1/exports/margin.xlsx?date_from=99999-01-01",
    "/api/v1/exports/cash-forecast.xlsx?hours=0", "/api/v1/exports/cash-forecast.xlsx?hours=169",
    f"/api/v1/exports/cash-forecast.xlsx?hours={2**63}", "/api/v1/exports/cash-forecast.xlsx?hours=1.5",
    "/api/v1/exports/cash-forecast.xlsx?hours=-72",
])
def test_bad_periods_and_absurd_arguments_are_refused(client, demo, as_, engine, url):
    before = rows(engine)
    assert_refused(client.get(url, headers=as_("钱总监")), 422, "VALIDATION_ERROR")
    assert rows(engine) == before


def test_a_future_month_is_an_empty_report_not_an_error_and_another_century_is_refused(client, demo, as_):
    for url in ("/api/v1/exports/trial-balance.xlsx?period=209912", "/api/v1/exports/vat-summary.xlsx?period=209912"):
        assert client.get(url, headers=as_("吴会计")).status_code == 200, url
    for url in ("/api/v1/exports/vat-summary.xlsx?period=190001", "/api/v1/finance/vat-summary?period=190001"):
        assert client.get(url, headers=as_("吴会计")).status_code == 422, url
    this = period_of(utcnow())
    assert client.get(f"/api/v1/exports/income-statement.xlsx?period={this}", headers=as_("吴会计")).status_code == 200


def test_a_signed_out_caller_gets_nothing(client, demo):
    for url in REPORTS:
        assert client.get(url).status_code == 401, url
