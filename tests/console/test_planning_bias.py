"""计划 › 偏差归因: the week picker, the misses with their top cause and the others, the overrides' record —
the same figures as GET /api/v1/planning/bias, nothing of another organisation, refused without planning."""

from __future__ import annotations

from datetime import timedelta

from tests.console.planning_fixtures import other_org_fixture  # noqa: F401
from tests.planning_api.bias_fixtures import fake_engine, missed_fixture, monday  # noqa: F401

PAGE = "/console/planning/bias"


def test_the_board_shows_the_ranked_causes_and_the_override_record(console_as, missed):
    page = console_as("赵经理").get(PAGE, query_string={"week": missed.week.isoformat()})
    html = page.get_data(as_text=True)
    assert page.status_code == 200, html
    assert f'<option value="{missed.week.isoformat()}" selected>' in html
    assert "比较了 2 个商品 × 地点" in html and "明显偏差 1 个" in html
    assert f"/console/planning/{missed.item_id}/{missed.site_id}" in html
    cause = html.split('class="bias-cause"', 1)[1]
    top, rest = cause.split("<details>", 1)
    assert "缺货截断需求" in top and "6 天库存为零" in top  # the top cause with its evidence
    assert rest.index("人工调整变差") < rest.index("促销执行偏差")  # the others, ranked, folded away
    assert "+650%" in html and "高估" in html
    assert "已结束的调整 1 次：比模型更准 0 次（0%），更差 1 次" in html and "调整有害" in html
    assert 'aria-current="page">偏差归因' in html


def test_a_bad_week_says_why_and_shows_the_last_full_week(console_as, missed):
    page = console_as("赵经理").get(PAGE, query_string={"week": (missed.week + timedelta(days=3)).isoformat()})
    html = page.get_data(as_text=True)
    assert page.status_code == 422 and "请选择某一周的周一" in html and "缺货截断需求" in html
    junk = console_as("赵经理").get(PAGE, query_string={"week": "２０２６-01-05"})
    assert junk.status_code == 422
    unclosed = console_as("赵经理").get(PAGE, query_string={"week": monday(0).isoformat()})
    assert unclosed.status_code == 422 and "尚未结束" in unclosed.get_data(as_text=True)


def test_a_clerk_is_refused_and_another_org_sees_none(console_as, missed, other_org, console_app):
    assert console_as("小周").get(PAGE).status_code == 403
    from tests.console.conftest import sign_in

    other, _ = other_org
    client = console_app.test_client()
    sign_in(client, other, "赵经理")
    html = client.get(PAGE, query_string={"week": missed.week.isoformat()}).get_data(as_text=True)
    assert "缺货截断需求" not in html and "节前备货" not in html
    assert f"/console/planning/{missed.item_id}/{missed.site_id}" not in html
