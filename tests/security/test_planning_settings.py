"""Planning settings are checked when saved, in the operation (not only by the HTTP body model):
a forecast must never meet Infinity, a bool for a number, or another organisation's ids."""

from __future__ import annotations

import math
import uuid

import pytest

from models.demo import seed_demo
from models.errors import NotFound, ValidationError
from models.operations.planning import SetPlanningSettings, planning_settings, set_planning_settings
from models.uow import run
from tests.security.conftest import rows


@pytest.mark.parametrize("values", [
    {"lead_time_weeks": math.inf},
    {"lead_time_weeks": 1e308},
    {"review_weeks": math.nan},
    {"service_level": True},
    {"horizon": 8.5},
    {"slow_weeks": -1},
    {"use_holidays": "yes"},
    {"items": {"1": {"pack_size": math.inf}}},
    {"items": {"١": {"pack_size": 2}}},
])
def test_absurd_planning_settings_are_refused_when_saved(session_factory, engine, demo, actors, values):
    if "items" in values and "1" in values["items"]:
        values = {"items": {str(demo.items["龙井"]): values["items"]["1"]}}
    before = rows(engine)
    with pytest.raises(ValidationError) as err:
        run(session_factory, set_planning_settings, actors["钱总监"], SetPlanningSettings(values, reason="试"))
    assert err.value.code == "VALIDATION_ERROR" and "须" in err.value.message
    assert rows(engine) == before


def test_another_organisations_supplier_or_item_is_not_found(session_factory, engine, demo, actors):
    other = run(session_factory, seed_demo, f"t-{uuid.uuid4().hex[:12]}")
    before = rows(engine)
    for values in ({"default_supplier_id": other.parties["包装厂"]},
                   {"items": {str(other.items["龙井"]): {"pack_size": 20}}},
                   {"items": {str(demo.items["龙井"]): {"supplier_id": other.parties["包装厂"]}}}):
        with pytest.raises(NotFound):
            run(session_factory, set_planning_settings, actors["钱总监"], SetPlanningSettings(values, reason="试"))
    assert rows(engine) == before
    with session_factory() as session:
        assert planning_settings(session, demo.org_id)["default_supplier_id"] is None


def test_items_null_over_http_is_refused_not_a_500(client, engine, demo, as_):
    """Found by the fuzzer: {"items": null} reached `.items()` on None in the route (500)."""
    from tests.security.conftest import assert_refused

    before = rows(engine)
    resp = client.put("/api/v1/planning/settings", json={"settings": {"items": None}, "reason": "试"},
                      headers=as_("赵经理"))
    assert_refused(resp, 422, "VALIDATION_ERROR", "items")
    assert rows(engine) == before
