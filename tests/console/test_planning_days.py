"""计划 pages for a day run: the run form's 按日, the board's summary, the item page's daily chart
(history, forecast, 80/95 bands), its days and the explanation's factors in Chinese."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from models.planning import ForecastDayLine, ForecastLine, ForecastRun
from models.timeutil import SHANGHAI
from tests.console.conftest import post
from tests.console.planning_fixtures import request_id_of
from tests.models.planning_fakes import at, fake_engine, receive, ship  # noqa: F401

pytestmark = pytest.mark.usefixtures("fake_engine")
HOME = "/console/planning"


def _daily_history(session_factory, demo, actors, days=14):
    today = datetime.now(SHANGHAI).date()
    receive(session_factory, demo, actors, "MD", 3 * days + 20, at(today - timedelta(days=days + 1)))
    for n in range(days, 0, -1):
        ship(session_factory, demo, actors, "MD", 3, at(today - timedelta(days=n)))


def _chart(html: str, name: str) -> dict:
    found = re.search(rf'<script type="application/json" id="{name}">(.*?)</script>', html, re.S)
    assert found, html
    return json.loads(found.group(1))


def test_a_day_run_from_the_form_and_its_item_page(console_as, session_factory, demo, actors):
    _daily_history(session_factory, demo, actors)
    client = console_as("赵经理")
    html = client.get(HOME).get_data(as_text=True)
    assert 'name="frequency" value="day"' in html and "按日" in html and "按周" in html
    ran = post(client, f"{HOME}/forecast", {"frequency": "day", "horizon": "21", "request_id": request_id_of(html)},
               page=HOME)
    assert ran.status_code == 303
    board = client.get(HOME).get_data(as_text=True)
    assert "按日预测完成：1 个商品 × 地点，21 天行" in board and "按日：自" in board and "21 天" in board
    with session_factory() as session:
        run = session.scalars(select(ForecastRun).where(ForecastRun.org_id == demo.org_id)).one()
        days = list(session.scalars(select(ForecastDayLine).where(ForecastDayLine.run_id == run.id)
                                    .order_by(ForecastDayLine.day)))
        weeks = list(session.scalars(select(ForecastLine).where(ForecastLine.run_id == run.id)))
    assert len(days) == 21 and len(weeks) in (2, 3)
    page = client.get(f"{HOME}/{demo.items['龙井']}/{demo.sites['MD']}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "按日需求与预测" in html and "各日预测" in html
    option = _chart(html, "day-chart")
    series = {s["name"]: s["data"] for s in option["series"]}
    assert [v for v in series["实际需求"] if v is not None][-14:] == [3.0] * 14
    assert [v for v in series["模型预测"] if v is not None] == [float(d.mean) for d in days]
    assert len([v for v in series["95% 区间"] if v is not None]) == 21 and {"80% 区间", "计划值"} <= set(series)
    assert len(option["xAxis"]["data"]) == 15 + 21  # the day the stock came in, the 14 sales, the horizon
    assert days[0].explanation["summary"] in html and "每天" in html  # the first day's explanation
    assert "已与各日预测对齐" in html and "RECONCILED" not in html
    for week in weeks:  # the weekly table shows the sums of the days
        assert week.mean == sum(d.mean for d in days if week.week <= d.day < week.week + timedelta(days=7))
        assert f"{format(week.mean.normalize(), 'f')}" in html or week.mean == Decimal(0)


def test_the_run_form_refuses_a_bad_frequency_or_day_horizon(console_as, session_factory, demo, actors):
    client = console_as("赵经理")
    html = client.get(HOME).get_data(as_text=True)
    for form, message in (({"frequency": "month"}, "请选择按周或按日"),
                          ({"frequency": "day", "horizon": "121"}, "预测天数须在 1 到 120 之间")):
        html = client.get(HOME).get_data(as_text=True)
        answer = post(client, f"{HOME}/forecast", {**form, "request_id": request_id_of(html)}, page=HOME)
        assert answer.status_code in (303, 422)
        shown = answer.get_data(as_text=True) if answer.status_code == 422 else client.get(HOME).get_data(as_text=True)
        assert message in shown
    with session_factory() as session:
        assert session.scalars(select(ForecastRun).where(ForecastRun.org_id == demo.org_id)).first() is None
