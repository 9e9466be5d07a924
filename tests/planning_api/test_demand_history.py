"""GET /planning/demand: ``start`` cuts weekly rows by their Monday and daily rows by their day."""

from __future__ import annotations

from tests.models.planning_fakes import monday, weekly_history
from tests.planning_api.test_planning_api import API, _auth, app  # noqa: F401


def test_start_cuts_weekly_and_daily_rows(app, session_factory, demo, actors):  # noqa: F811
    client, h = app.test_client(), _auth(app, demo, "赵经理")
    weekly_history(session_factory, demo, actors, "MD", [4, 5, 6])
    where = {"item_id": demo.items["龙井"], "site_id": demo.sites["MD"]}

    def rows(**query):
        series = client.get(f"{API}/demand", headers=h, query_string={**where, **query}).get_json()["series"]
        return series[0]["rows"]

    weeks = [r["week"] for r in rows(grain="weekly")]
    assert monday(3).isoformat() in weeks
    cut = rows(grain="weekly", start=monday(2).isoformat())
    assert [r["week"] for r in cut] == [w for w in weeks if w >= monday(2).isoformat()]
    assert cut[0]["week"] == monday(2).isoformat() and cut[0]["sale"] == "5"
    days = rows(grain="daily", start=monday(1).isoformat())
    assert days[0]["day"] == monday(1).isoformat() and all(d["day"] >= monday(1).isoformat() for d in days)
