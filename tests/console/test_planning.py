"""计划 pages through the Flask client: the board, one item × site, overrides, the sandbox,
suggestions and the export — and nothing of another organisation.

The ``planned`` fixture runs the real forecast engine (a few seconds once per process, then
milliseconds), so the figures a page shows are checked against the forecast lines it stored, and the
shape of a real forecast (bands around the mean, 80 % inside 95 %), not against hand-computed values."""

from __future__ import annotations

import io
import re
from decimal import Decimal

import pytest
from openpyxl import load_workbook
from sqlalchemy import select

from models.planning import ForecastLine, ForecastOverride, ReplenishmentSuggestion, SuggestionStatus
from tests.console.conftest import post
from tests.console.planning_fixtures import (  # noqa: F401  (fixtures)
    fake_engine,
    monday,
    other_org_fixture,
    planned_fixture,
    request_id_of,
)

HOME = "/console/planning"


def _item_page(p) -> str:
    return f"{HOME}/{p.item_id}/{p.site_id}"


def _lines(session_factory, p) -> list[ForecastLine]:
    """The stored forecast lines of the fixture's item × site, by week."""
    with session_factory() as session:
        return list(session.scalars(select(ForecastLine).where(
            ForecastLine.run_id == p.run_id, ForecastLine.item_id == p.item_id, ForecastLine.site_id == p.site_id)
            .order_by(ForecastLine.week)))


def test_the_board_lists_the_latest_run_and_nothing_of_another_org(console_as, planned, other_org,
                                                                   session_factory):
    _other, theirs = other_org
    total = sum(line.final for line in _lines(session_factory, planned))
    page = console_as("赵经理").get(HOME)
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert f"最新预测 #{planned.run_id}" in html and f"#{theirs.run_id}" not in html
    assert "龙井" in html and "门店" in html
    assert f"{format(total.normalize(), 'f')} 罐" in html  # the four weeks' planned demand
    assert f"/console/planning/{planned.item_id}/{planned.site_id}" in html
    assert f"/console/planning/{theirs.item_id}/{theirs.site_id}" not in html
    assert "completed" not in html and "已完成" in html


def test_a_member_without_plan_does_not_see_the_section(console_as, planned):
    clerk = console_as("小周")
    assert clerk.get(HOME).status_code == 403
    assert "/console/planning" not in clerk.get("/console/").get_data(as_text=True)
    assert 'href="/console/planning"' in console_as("赵经理").get("/console/").get_data(as_text=True)


def test_the_item_page_draws_history_forecast_bands_and_explains(console_as, planned, session_factory):
    lines = _lines(session_factory, planned)
    html = console_as("赵经理").get(_item_page(planned)).get_data(as_text=True)
    chart = re.search(r'<script type="application/json" id="plan-chart">(.*?)</script>', html, re.S)
    assert chart, html
    import json
    option = json.loads(chart.group(1))
    by_name = {s["name"]: s["data"] for s in option["series"]}
    assert [v for v in by_name["实际需求"] if v is not None][-4:] == [5.0, 6.0, 5.0, 7.0]
    assert [v for v in by_name["模型预测"] if v is not None] == [float(line.mean) for line in lines]
    band = [v for v in by_name["95% 区间"] if v is not None]
    assert len(band) == 4 and all(b > 0 for b in band)
    assert {"80% 区间", "95% 区间", "计划值", "人工调整"} <= set(by_name)
    for line in lines:  # a real forecast's bands: around the mean, the 80 % one inside the 95 % one
        assert line.lo95 <= line.lo80 <= line.mean <= line.hi80 <= line.hi95 and line.lo95 < line.hi95
    summary = lines[0].explanation["summary"]
    assert summary in html and "方法：" in summary  # the explanation names what the forecast rests on
    assert "历史数据偏少" in html and "SHORT_HISTORY" not in html


def test_an_override_changes_the_plan_and_is_listed_with_its_reason(console_as, planned, session_factory, demo):
    client = console_as("赵经理")
    html = client.get(_item_page(planned)).get_data(as_text=True)
    week = monday(0).isoformat()
    form = {"week": week, "weeks": "2", "quantity": "9", "reason": "团购订单", "request_id": request_id_of(html)}
    answer = post(client, f"{_item_page(planned)}/override", form, page=_item_page(planned))
    assert answer.status_code == 303
    again = post(client, f"{_item_page(planned)}/override", form, page=_item_page(planned))  # a double submit
    assert again.status_code == 303
    with session_factory() as session:
        assert len(session.scalars(select(ForecastOverride).where(ForecastOverride.org_id == demo.org_id)).all()) == 1
        finals = session.scalars(select(ForecastLine.final).where(ForecastLine.run_id == planned.run_id)
                                 .order_by(ForecastLine.week)).all()
    means = [line.mean for line in _lines(session_factory, planned)]
    assert finals == [Decimal("9"), Decimal("9"), *means[2:]]
    html = client.get(_item_page(planned)).get_data(as_text=True)
    assert "已调整 2 周的预测" in html and "团购订单" in html and "已调整</span>" in html
    ov_id = re.search(r'/console/planning/overrides/(\d+)/cancel', html).group(1)
    cancelled = post(client, f"{HOME}/overrides/{ov_id}/cancel", {"reason": "团购取消",
                                                                   "request_id": request_id_of(html)},
                     page=_item_page(planned))
    assert cancelled.status_code == 303
    with session_factory() as session:
        assert session.get(ForecastOverride, int(ov_id)).active is False


def test_the_sandbox_moves_stockouts_and_value_and_its_text_agrees(console_as, planned, engine):
    from tests.security.conftest import rows

    client = console_as("赵经理")
    before = rows(engine)
    page = client.get(f"{HOME}/sandbox", query_string={"item_id": planned.item_id, "site_id": planned.site_id,
                                                      "run": "1", "service_level": "99", "lead_time_weeks": "3"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert rows(engine) == before  # the sandbox wrote nothing
    assert 'id="sandbox-chart"' in html
    texts = re.findall(r'<td class="plan-reason">(按此方案.*?。)', html)
    assert len(texts) == 2  # the live plan, then the sandbox
    cells = re.findall(r'<td class="num">(\d+)</td>\s*<td class="num">(¥[\d,.]+)</td>', html)
    assert len(cells) == 2
    for text, (weeks, value) in zip(texts, cells, strict=True):
        assert f"中 {weeks} 周缺货" in text and f"库存金额约 {value}" in text
    live_weeks, sandbox_weeks = int(cells[0][0]), int(cells[1][0])
    assert sandbox_weeks > live_weeks  # a 3-week lead time: the order arrives later, the shop runs out
    assert "99.0%" in html


def test_sandbox_junk_is_a_chinese_error_not_a_500(console_as, planned):
    client = console_as("赵经理")
    for args, words in (({"service_level": "abc"}, "服务水平（%）须是数字"),
                        ({"service_level": "1e999"}, "服务水平"), ({"lead_time_weeks": "-1"}, "提前期"),
                        ({"horizon": "１２"}, "预测周数须是整数")):
        page = client.get(f"{HOME}/sandbox", query_string={"run": "1", **args})
        assert page.status_code == 422 and words in page.get_data(as_text=True), args


def test_suggestions_accept_and_dismiss(console_as, planned, session_factory, demo):
    client = console_as("赵经理")
    html = client.get(f"{HOME}/suggestions").get_data(as_text=True)
    assert "调拨" in html and "总仓" in html and "transfer" not in html.replace('"transfer"', "")
    with session_factory() as session:
        open_ = session.scalars(select(ReplenishmentSuggestion).where(
            ReplenishmentSuggestion.org_id == demo.org_id, ReplenishmentSuggestion.status == SuggestionStatus.PROPOSED
        )).all()
    transfer = next(s for s in open_ if s.kind.value == "transfer")
    form = {"quantity": "", "request_id": request_id_of(html)}
    answer = post(client, f"{HOME}/suggestions/{transfer.id}/accept", form, page=f"{HOME}/suggestions")
    assert answer.status_code == 303
    assert "已采纳建议，已生成调拨申请" in client.get(f"{HOME}/suggestions").get_data(as_text=True)
    again = post(client, f"{HOME}/suggestions/{transfer.id}/accept", form, page=f"{HOME}/suggestions")
    assert again.status_code == 303  # the replay answers the first result: one transfer, not two
    with session_factory() as session:
        done = session.get(ReplenishmentSuggestion, transfer.id)
        assert done.status == SuggestionStatus.ACCEPTED and done.document_id
    others = [s for s in open_ if s.id != transfer.id]
    if others:
        gone = post(client, f"{HOME}/suggestions/{others[0].id}/dismiss",
                    {"reason": "本周不补", "request_id": request_id_of(html)}, page=f"{HOME}/suggestions")
        assert gone.status_code == 303
        with session_factory() as session:
            assert session.get(ReplenishmentSuggestion, others[0].id).status == SuggestionStatus.DISMISSED


def test_recompute_and_run_a_forecast_from_the_board(console_as, planned, session_factory, demo):
    from models.planning import ForecastRun

    client = console_as("赵经理")
    html = client.get(HOME).get_data(as_text=True)
    answer = post(client, f"{HOME}/recompute", {"request_id": request_id_of(html)}, page=HOME)
    assert answer.status_code == 303
    assert "已重新计算" in client.get(HOME).get_data(as_text=True)
    html = client.get(HOME).get_data(as_text=True)
    ran = post(client, f"{HOME}/forecast", {"horizon": "3", "request_id": request_id_of(html)}, page=HOME)
    assert ran.status_code == 303
    with session_factory() as session:
        latest = session.scalars(select(ForecastRun).where(ForecastRun.org_id == demo.org_id)
                                 .order_by(ForecastRun.id.desc())).first()
    assert latest.id != planned.run_id and latest.horizon == 3
    assert f"最新预测 #{latest.id}" in client.get(HOME).get_data(as_text=True)


def test_the_export_has_the_lines_and_the_suggestions(console_as, planned, other_org, session_factory):
    means = [float(line.final) for line in _lines(session_factory, planned)]
    answer = console_as("赵经理").get(f"{HOME}/export.xlsx")
    assert answer.status_code == 200 and answer.mimetype.endswith("spreadsheetml.sheet")
    book = load_workbook(io.BytesIO(answer.data), read_only=True)
    plan = [r for r in list(book["计划"].iter_rows(values_only=True))[3:] if r[0]]
    assert len(plan) == 1  # ours only (theirs has a 龙井 too)
    code, name, unit, site, *weeks, total, overridden = plan[0]
    assert (code, name, unit, site) == ("LJ250", "龙井 250g 罐", "罐", "门店")
    assert weeks == means and total == pytest.approx(sum(means)) and overridden == 0
    lines = [r for r in list(book["预测区间"].iter_rows(values_only=True))[3:] if r[0]]
    assert len(lines) == 4 and lines[0][5] == means[0] and lines[0][6] < means[0] < lines[0][7]
    suggestions = list(book["补货建议"].iter_rows(values_only=True))[3:]
    assert any(r[1] == "调拨" for r in suggestions)


@pytest.mark.usefixtures("fake_engine")
def test_without_a_forecast_the_board_says_so_and_offers_to_run_one(console_as, session_factory, demo, actors):
    from tests.models.planning_fakes import weekly_history

    client = console_as("赵经理")
    html = client.get(HOME).get_data(as_text=True)
    assert "还没有完成的预测" in html and "运行预测" in html
    sandbox = client.get(f"{HOME}/sandbox", query_string={"run": "1"})
    assert sandbox.status_code == 200 and "没有可试算的商品" in sandbox.get_data(as_text=True)
    weekly_history(session_factory, demo, actors, "MD", [4, 4, 4, 4], stock_first=20)
    ran = post(client, f"{HOME}/forecast", {"horizon": "", "request_id": request_id_of(html)}, page=HOME)
    assert ran.status_code == 303
    html = client.get(HOME).get_data(as_text=True)
    assert "预测完成：1 个商品 × 地点" in html and "32 罐" in html  # 8 weeks (the default) × 4


def test_a_purchase_with_no_usual_supplier_is_accepted_with_the_supplier_picked(console_as, planned,
                                                                               session_factory, demo):
    from models.documents import Document
    from tests.models.planning_fakes import supplierless_purchase

    suggestion_id = supplierless_purchase(session_factory, demo)
    client = console_as("赵经理")
    html = client.get(f"{HOME}/suggestions").get_data(as_text=True)
    picker = re.search(rf'<label for="party-{suggestion_id}">供应商</label>\s*<select id="party-{suggestion_id}" '
                       rf'name="party_id" required>(.*?)</select>', html, re.S)
    assert picker, html
    options = picker.group(1)
    assert "（请选择供应商）" in options and "新昌包装厂" in options and "王阿姨" in options
    assert "杭州茶城" not in options  # a customer is no supplier
    form = {"quantity": "", "request_id": request_id_of(html)}
    refused = post(client, f"{HOME}/suggestions/{suggestion_id}/accept", form, page=f"{HOME}/suggestions")
    assert refused.status_code == 303 and "没有常用供应商，请选择供应商" in client.get(
        f"{HOME}/suggestions").get_data(as_text=True)
    picked = {**form, "party_id": str(demo.parties["包装厂"]), "request_id": request_id_of(html)[::-1]}
    assert post(client, f"{HOME}/suggestions/{suggestion_id}/accept", picked,
                page=f"{HOME}/suggestions").status_code == 303
    with session_factory() as session:
        done = session.get(ReplenishmentSuggestion, suggestion_id)
        assert done.status == SuggestionStatus.ACCEPTED and done.party_id == demo.parties["包装厂"]
        assert session.get(Document, done.document_id).party_id == demo.parties["包装厂"]
