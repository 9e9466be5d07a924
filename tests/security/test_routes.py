"""Issue 10 findings 5 (routes), 14 (planning/workflows) and 16 (override date): every API route goes
through the one skeleton, so a farmer is refused org-wide configuration and junk is a 422, never a 5xx."""

from __future__ import annotations

import re

import pytest

from tests.security.conftest import assert_refused, rows

WF = "/api/v1/workflows"
PLAN = "/api/v1/planning"


@pytest.mark.parametrize("path", [f"{WF}/rules", f"{WF}/chains", f"{WF}/dead-letters", f"{WF}/health",
                                  f"{WF}/rules/1/versions", f"{WF}/webhooks/1/deliveries"])
def test_farmer_cannot_read_org_wide_configuration(client, as_, path):
    resp = client.get(path, headers=as_("王阿姨"))
    assert_refused(resp, 403, "PERMISSION_DENIED", "没有权限：查看规则与事件日志")


def test_farmer_cannot_run_the_rule_sandbox_and_nothing_is_parsed(client, as_, engine):
    before = rows(engine)
    # not even a valid body: the permission is checked before the body is parsed
    resp = client.post(f"{WF}/rules/sandbox", headers=as_("王阿姨"), data="{not json", content_type="application/json")
    assert_refused(resp, 403, "PERMISSION_DENIED", "没有权限")
    assert rows(engine) == before


def test_manager_reads_health_but_cannot_replay_dead_letters(client, as_):
    assert client.get(f"{WF}/health", headers=as_("赵经理")).status_code == 200
    assert_refused(client.post(f"{WF}/dead-letters/replay", headers=as_("赵经理"), json={"ids": [1]}),
                   403, "PERMISSION_DENIED", "没有权限：分配角色")


JUNK = [
    ("post", f"{PLAN}/overrides", {"item_id": 2**63, "site_id": 1, "from_week": "2026-11-30", "weeks": 1,
                                   "set_value": "1", "reason": "x"}, "item_id"),
    ("post", f"{PLAN}/overrides", {"item_id": 1, "site_id": True, "from_week": "2026-11-30", "weeks": 1,
                                   "set_value": "1", "reason": "x"}, "site_id"),
    ("post", f"{PLAN}/overrides", {"item_id": 1, "site_id": 1, "from_week": "9999-12-27", "weeks": 1,
                                   "set_value": "1", "reason": "x"}, "from_week"),
    ("post", f"{PLAN}/overrides", {"item_id": 1, "site_id": 1, "from_week": "2026-11-30", "weeks": 1,
                                   "set_value": "1e30", "reason": "x"}, "set_value"),
    ("post", f"{PLAN}/promotions", {"item_id": 1, "starts_on": "2026-12-07", "ends_on": "2026-12-13",
                                    "uplift": "Infinity"}, "uplift"),
    ("post", f"{PLAN}/forecasts", {"horizon": "four"}, "horizon"),
    ("post", f"{PLAN}/sandbox", {"service_level": "NaN"}, "service_level"),
    ("put", f"{PLAN}/settings", {"settings": {"lead_time_weeks": 1e308}}, "settings.lead_time_weeks"),
    ("post", f"{PLAN}/replenishment/suggestions/1/accept", {"quantity": 1e30}, "quantity"),
    ("post", f"{WF}/dead-letters/replay", {"ids": [2**63]}, "ids.0"),
    ("post", f"{WF}/devices", {"code": "s1", "kind": "scale", "site_id": 1.5}, "site_id"),
    ("post", f"{WF}/chains", {"doc_kind": "transfer", "name": "x", "steps": [], "min_value": "1e30"}, "min_value"),
]


@pytest.mark.parametrize(("verb", "path", "body", "field"), JUNK,
                         ids=[f"{j[1].rsplit('/', 1)[-1]}-{j[3]}" for j in JUNK])
def test_junk_is_a_422_naming_the_field_and_writes_nothing(client, as_, engine, verb, path, body, field):
    before = rows(engine)
    resp = getattr(client, verb)(path, headers=as_("钱总监"), json=body)
    error = assert_refused(resp, 422, "VALIDATION_ERROR", "请求参数有误")
    assert field in [f["field"] for f in error["details"]["fields"]], error
    assert rows(engine) == before


@pytest.mark.parametrize("path", [f"{PLAN}/forecasts/{2**63}", f"{PLAN}/forecasts/{2**70}/lines",
                                  f"{WF}/rules/{2**64}/versions"])
def test_huge_path_ids_are_a_422_not_a_500(client, as_, path):
    assert_refused(client.get(path, headers=as_("钱总监")), 422, "VALIDATION_ERROR", "请求参数有误")


def test_every_route_is_in_the_spec(app):
    """Walk the URL map: each /api/ route and each bot/card callback is an operation of the spec."""
    spec = app.api_doc
    documented = {(m.upper(), p) for p, item in spec["paths"].items() for m in item
                  if m in ("get", "post", "put", "delete", "patch")}
    missing = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith(("/api/", "/bot/", "/cards/")):
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            if (method, path) not in documented:
                missing.append(f"{method} {path}")
    assert missing == []
    assert len(documented) >= 75  # 28 before issue 10; the planning and workflows routes made it 80+


def test_a_route_must_declare_its_permission():
    from flask_openapi3 import APIBlueprint

    from miniprogram_api.skeleton import Anyone, endpoint

    api = APIBlueprint("t_perm", __name__, url_prefix="/t")
    with pytest.raises(TypeError):
        endpoint(api.get, "/x", permission=None)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        Anyone("  ")
