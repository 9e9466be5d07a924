"""GET /api/v1/planning/board*, /export.xlsx: the console's planning reads over HTTP (one query each)."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from app.factory import create_app
from miniprogram_api.auth import issue_token
from tests.console.planning_fixtures import fake_engine, other_org_fixture, planned_fixture  # noqa: F401

API = "/api/v1/planning"


@pytest.fixture
def app(database_url, tmp_path):
    app = create_app({"DATABASE_URL": database_url, "MEDIA_ROOT": str(tmp_path / "media"), "VOSK_MODEL_PATH": "",
                      "WECHAT_MINIPROGRAM_APP_ID": "", "LIUZHUAN_VAR_DIR": str(tmp_path)})
    app.config["TESTING"] = True
    return app


def _auth(app, org, name):
    with app.app_context():
        return {"Authorization": f"Bearer {issue_token(org.members[name], org.org_id)}"}


def test_board_item_site_suggestions_and_export(app, demo, planned, other_org, session_factory):
    from sqlalchemy import func, select

    from models.planning import ForecastLine

    other, theirs = other_org
    with session_factory() as session:  # the fixture's forecast is the real engine's: read what it stored
        total = session.scalar(select(func.sum(ForecastLine.final)).where(
            ForecastLine.run_id == planned.run_id, ForecastLine.item_id == planned.item_id,
            ForecastLine.site_id == planned.site_id))
    client, h = app.test_client(), _auth(app, demo, "赵经理")
    board = client.get(f"{API}/board", headers=h).get_json()
    assert board["run"]["id"] == planned.run_id and board["next_after"] is None
    (row,) = board["rows"]
    assert (row["item_id"], row["site_id"], row["forecast_total"], row["unit"]) == (
        planned.item_id, planned.site_id, format(total.normalize(), "f"), "罐")
    assert row["proposed"] >= 1

    one = client.get(f"{API}/board/{planned.item_id}/{planned.site_id}", headers=h).get_json()
    assert [h_["sale"] for h_ in one["history"]][-4:] == ["5", "6", "5", "7"]
    assert len(one["lines"]) == 4 and one["lines"][0]["explanation"]["summary"]
    assert one["safety_stock"]["run_id"] == planned.run_id

    page = client.get(f"{API}/board/suggestions", headers=h).get_json()
    transfer = next(r for r in page["rows"] if r["suggestion"]["kind"] == "transfer")
    assert transfer["from_site_name"] == "总仓" and transfer["site_name"] == "门店"

    book = client.get(f"{API}/export.xlsx", headers=h)
    assert book.status_code == 200 and "filename*=UTF-8''" in book.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(book.data), read_only=True)["预测区间"]
    assert sum(1 for r in sheet.iter_rows(min_row=4, values_only=True) if r[0]) == 4

    # another organisation's item and site are not found; a clerk is refused before anything is read
    nope = client.get(f"{API}/board/{theirs.item_id}/{theirs.site_id}", headers=h)
    assert nope.status_code == 404 and nope.get_json()["error"]["code"] == "NOT_FOUND"
    mixed = client.get(f"{API}/board/{planned.item_id}/{theirs.site_id}", headers=h)
    assert mixed.status_code == 404
    assert client.get(f"{API}/board", headers=_auth(app, demo, "小周")).status_code == 403
    theirs_board = client.get(f"{API}/board", headers=_auth(app, other, "赵经理")).get_json()
    assert theirs_board["run"]["id"] == theirs.run_id != planned.run_id


def test_board_pages_by_keyset(app, demo, planned):
    client, h = app.test_client(), _auth(app, demo, "赵经理")
    after = f"{planned.item_id}:{planned.site_id}"
    assert client.get(f"{API}/board", headers=h, query_string={"after": after}).get_json()["rows"] == []
    junk = client.get(f"{API}/board", headers=h, query_string={"after": "9" * 30 + ":1"}).get_json()
    assert len(junk["rows"]) == 1  # a cursor that is no position starts at the top, never a 500


def test_the_board_query_pages_without_gaps_or_repeats(fake_engine, session_factory, demo, actors):  # noqa: F811
    from models.operations.planning import RunForecast, run_forecast
    from models.queries.planning_board import planning_board
    from models.uow import run
    from tests.models.planning_fakes import weekly_history

    weekly_history(session_factory, demo, actors, "MD", [5, 6, 5, 7], stock_first=25)
    weekly_history(session_factory, demo, actors, "ZC", [2, 2, 3, 2], stock_first=20)
    run(session_factory, run_forecast, actors["赵经理"], RunForecast(horizon=2))
    seen, after = [], None
    with session_factory() as session:
        for _ in range(3):
            page = planning_board(session, actors["赵经理"], after=after, limit=1)
            seen += [(r.site_name, r.forecast_total) for r in page.rows]
            after = page.next_after
            if after is None:
                break
    assert sorted(seen) == [("总仓", 4.5), ("门店", 11.5)] and after is None
