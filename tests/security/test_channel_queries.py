"""The list and lookup routes now answer from models/queries: replay the reads a member may not make
and assert the refusal comes from the query (code, Chinese message) and writes nothing."""

from __future__ import annotations

import pytest

from tests.security.conftest import assert_refused, rows

PLANNING_LISTS = ["/forecasts", "/overrides", "/overrides/scores", "/promotions?all=true", "/covariates", "/imports",
                  "/replenishment/suggestions?status=all", "/replenishment/safety-stock"]


@pytest.mark.parametrize("path", PLANNING_LISTS)
def test_a_clerk_cannot_read_the_planning_lists(client, as_, engine, path):
    before = rows(engine)
    assert_refused(client.get(f"/api/v1/planning{path}", headers=as_("小周")), 403, "PERMISSION_DENIED", "没有权限")
    assert rows(engine) == before


@pytest.mark.parametrize("path", ["/api/v1/my/deliveries", "/api/v1/my/settlements"])
def test_staff_without_a_party_read_no_farmers_documents(client, as_, engine, path):
    before = rows(engine)
    assert_refused(client.get(path, headers=as_("赵经理")), 403, "PERMISSION_DENIED", "只有农户/供货商账号")
    assert rows(engine) == before


def test_a_planner_reads_the_lists(client, as_):
    for path in PLANNING_LISTS:
        r = client.get(f"/api/v1/planning{path}", headers=as_("赵经理"))
        assert r.status_code == 200 and r.get_json() == [], path
