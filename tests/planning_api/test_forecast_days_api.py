"""Day runs over HTTP: POST /forecasts with frequency "day", the run's days with explanations, the weekly
lines that sum them, the settings that choose day runs."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from tests.models.planning_fakes import at, fake_engine, monday, receive, ship  # noqa: F401
from tests.planning_api.test_planning_api import API, _auth, app  # noqa: F401  (app: a fixture)

pytestmark = pytest.mark.usefixtures("fake_engine")
AS_OF = monday(1) + timedelta(days=2)


def _history(session_factory, demo, actors):
    first = AS_OF - timedelta(days=14)
    receive(session_factory, demo, actors, "MD", 80, at(first - timedelta(days=1)))
    for n in range(14):
        ship(session_factory, demo, actors, "MD", 3, at(first + timedelta(days=n)))


def test_a_day_run_over_http(app, session_factory, demo, actors):  # noqa: F811
    client, h = app.test_client(), _auth(app, demo, "赵经理")
    _history(session_factory, demo, actors)
    started = client.post(f"{API}/forecasts", headers=h, json={
        "frequency": "day", "horizon": 14, "as_of": AS_OF.isoformat()})
    body = started.get_json()
    assert started.status_code == 201 and body["frequency"] == "day" and body["day_lines"] == 14
    assert body["first_day"] == AS_OF.isoformat() and body["lines"] == 1
    run_id = body["run_id"]
    listed = client.get(f"{API}/forecasts/{run_id}", headers=h).get_json()
    assert listed["frequency"] == "day" and listed["frequency_label"] == "按日"
    days = client.get(f"{API}/forecasts/{run_id}/days", headers=h, query_string={
        "item_id": demo.items["龙井"], "site_id": demo.sites["MD"]}).get_json()
    assert days["run"]["id"] == run_id and len(days["days"]) == 14
    first = days["days"][0]
    assert first["day"] == AS_OF.isoformat() and first["explanation"]["summary"] and first["method_label"]
    assert isinstance(first["explanation"]["factors"], list)
    (week,) = client.get(f"{API}/forecasts/{run_id}/lines", headers=h).get_json()["lines"]
    members = [d for d in days["days"] if week["week"] <= d["day"] <= (AS_OF + timedelta(days=11)).isoformat()]
    assert len(members) == 7 and Decimal(week["mean"]) == sum(Decimal(d["mean"]) for d in members)
    weekly = client.post(f"{API}/forecasts", headers=h, json={"horizon": 2, "as_of": AS_OF.isoformat()}).get_json()
    assert weekly["frequency"] == "week"
    assert client.get(f"{API}/forecasts/{weekly['run_id']}/days", headers=h).get_json()["days"] == []


def test_settings_choose_day_runs(app, session_factory, demo, actors):  # noqa: F811
    client, h = app.test_client(), _auth(app, demo, "赵经理")
    put = client.put(f"{API}/settings", headers=h, json={"settings": {"frequency": "day", "day_horizon": 7},
                                                         "reason": "门店按日订货"})
    assert put.status_code == 200, put.get_json()
    _history(session_factory, demo, actors)
    body = client.post(f"{API}/forecasts", headers=h, json={"as_of": AS_OF.isoformat()}).get_json()
    assert (body["frequency"], body["horizon"], body["day_lines"]) == ("day", 7, 7)


def test_the_days_route_is_in_the_spec(app):  # noqa: F811
    spec = app.test_client().get("/openapi/openapi.json").get_json()
    path = next(p for p in spec["paths"] if p.endswith("/forecasts/{run_id}/days"))
    assert "get" in spec["paths"][path]
    schema = spec["components"]["schemas"]
    assert any("frequency" in (s.get("properties") or {}) and "horizon" in (s.get("properties") or {})
               for s in schema.values())
