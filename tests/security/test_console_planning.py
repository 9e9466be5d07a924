"""Attacks on the console's 计划 pages: another organisation's run, item, site, override and suggestion
ids; members without 计划 permission; missing CSRF; a replayed form; absurd quantities and a missing
reason. Each refusal is in Chinese and writes nothing (``rows(engine)`` before == after)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.planning import ForecastOverride, ReplenishmentSuggestion, SuggestionStatus
from tests.console.conftest import console_app, post, sign_in  # noqa: F401  (console_app: a fixture)
from tests.console.planning_fixtures import (  # noqa: F401  (fixtures)
    fake_engine,
    monday,
    other_org_fixture,
    planned_fixture,
    request_id_of,
)
from tests.security.conftest import rows

HOME = "/console/planning"


@pytest.fixture(name="console_member")
def console_member_fixture(request, demo):
    """``console_member("赵经理")``: a client signed in to our org (or to ``org``) as that demo member."""
    app = request.getfixturevalue("console_app")

    def make(name, org=None):
        client = app.test_client()
        sign_in(client, org or demo, name)
        return client
    return make


def _flash(client, path: str) -> str:
    return client.get(path).get_data(as_text=True)


def _override_form(client, planned, **changes) -> dict[str, str]:
    page = client.get(f"{HOME}/{planned.item_id}/{planned.site_id}").get_data(as_text=True)
    return {"week": monday(0).isoformat(), "weeks": "1", "quantity": "9", "reason": "团购",
            "request_id": request_id_of(page), **changes}


def test_another_orgs_item_site_override_and_suggestion_are_not_found(console_member, planned, other_org, engine,
                                                                      session_factory):
    other, theirs = other_org
    client = console_member("赵经理")
    for path in (f"{HOME}/{theirs.item_id}/{theirs.site_id}", f"{HOME}/{planned.item_id}/{theirs.site_id}",
                 f"{HOME}/{theirs.item_id}/{planned.site_id}", f"{HOME}/99999999999999999999/1"):
        page = client.get(path)
        assert page.status_code == 404 and "找不到" in page.get_data(as_text=True), path
    sandbox = client.get(f"{HOME}/sandbox", query_string={"run": "1", "item_id": theirs.item_id})
    assert sandbox.status_code == 404 and "找不到" in sandbox.get_data(as_text=True)

    with session_factory() as session:
        their_suggestion = session.scalars(select(ReplenishmentSuggestion.id).where(
            ReplenishmentSuggestion.org_id == other.org_id,
            ReplenishmentSuggestion.status == SuggestionStatus.PROPOSED)).first()
    assert their_suggestion is not None
    form = _override_form(client, planned)
    before = rows(engine)
    attempts = [
        (f"{HOME}/{theirs.item_id}/{theirs.site_id}/override", form),
        (f"{HOME}/{planned.item_id}/{theirs.site_id}/override", form),
        (f"{HOME}/suggestions/{their_suggestion}/accept", {"request_id": form["request_id"]}),
        (f"{HOME}/suggestions/{their_suggestion}/dismiss", {"request_id": form["request_id"], "reason": "x"}),
    ]
    for path, data in attempts:
        answer = post(client, path, data, page=HOME)
        assert answer.status_code in (303, 404), path
        if answer.status_code == 303:
            assert "找不到" in _flash(client, HOME), path
    assert rows(engine) == before
    with session_factory() as session:
        assert session.get(ReplenishmentSuggestion, their_suggestion).status == SuggestionStatus.PROPOSED


def test_their_override_cannot_be_cancelled_from_our_console(console_member, planned, other_org, engine,
                                                             session_factory):
    other, theirs = other_org
    their_client = console_member("赵经理", other)
    made = post(their_client, f"{HOME}/{theirs.item_id}/{theirs.site_id}/override",
                _override_form(their_client, theirs), page=HOME)
    assert made.status_code == 303
    with session_factory() as session:
        their_override = session.scalars(select(ForecastOverride.id).where(
            ForecastOverride.org_id == other.org_id)).one()
    ours = console_member("赵经理")
    before = rows(engine)
    answer = post(ours, f"{HOME}/overrides/{their_override}/cancel",
                  {"reason": "捣乱", "request_id": "a" * 32}, page=HOME)
    assert answer.status_code == 303 and "找不到" in _flash(ours, HOME)
    assert rows(engine) == before


@pytest.mark.parametrize("member", ["小周", "王阿姨", "吴会计"])
def test_members_without_plan_are_refused_and_nothing_is_written(console_member, planned, engine, member):
    client = console_member(member)
    for path in (HOME, f"{HOME}/{planned.item_id}/{planned.site_id}", f"{HOME}/sandbox?run=1",
                 f"{HOME}/suggestions", f"{HOME}/export.xlsx"):
        page = client.get(path)
        assert page.status_code == 403 and "权限" in page.get_data(as_text=True), path
    before = rows(engine)
    form = {"week": monday(0).isoformat(), "weeks": "1", "quantity": "9", "reason": "团购", "request_id": "b" * 32}
    for path in (f"{HOME}/{planned.item_id}/{planned.site_id}/override", f"{HOME}/recompute", f"{HOME}/forecast"):
        answer = post(client, path, form)
        assert answer.status_code == 403, path
    assert rows(engine) == before


def test_the_override_operation_refuses_a_member_without_plan_even_if_the_page_let_him(planned, actors,
                                                                                        session_factory, engine):
    # The page's permission only hides it: the operation is what refuses (the same as the API).
    from models.errors import PermissionDenied
    from models.operations.forecast_overrides import OverrideForecast, override_forecast
    from models.uow import run

    before = rows(engine)
    with pytest.raises(PermissionDenied):
        run(session_factory, override_forecast, actors["小周"], OverrideForecast(
            planned.item_id, planned.site_id, monday(0), 1, "团购", set_value=__import__("decimal").Decimal(9)))
    assert rows(engine) == before


def test_a_post_without_csrf_is_refused(console_member, planned, engine):
    client = console_member("赵经理")
    form = _override_form(client, planned)
    before = rows(engine)
    for path in (f"{HOME}/{planned.item_id}/{planned.site_id}/override", f"{HOME}/recompute"):
        answer = client.post(path, data=form)
        assert answer.status_code == 400 and "页面已过期" in answer.get_data(as_text=True)
    assert rows(engine) == before


@pytest.mark.parametrize(("changes", "words"), [
    ({"quantity": "1e30"}, "调整后的数量须在"),
    ({"quantity": "-5"}, "调整后的数量须在"),
    ({"quantity": "NaN"}, "调整后的数量须"),
    ({"quantity": "Infinity"}, "调整后的数量须"),
    ({"quantity": "９"}, "调整后的数量须是数字"),
    ({"quantity": ""}, "请填写调整后的数量"),
    ({"reason": ""}, "请填写调整原因"),
    ({"reason": "   "}, "请填写调整原因"),
    ({"weeks": "100000"}, "调整周数须"),
    ({"weeks": "0"}, "调整周数须在 1 到 52 之间"),
    ({"week": "9999-01-01"}, "只能调整本次预测中的周"),
    ({"week": "yesterday"}, "请选择要调整的周"),
    ({"request_id": ""}, "表单已失效"),
])
def test_absurd_or_missing_override_fields_are_refused_in_chinese(console_member, planned, engine, changes, words):
    client = console_member("赵经理")
    form = _override_form(client, planned, **changes)
    item_page = f"{HOME}/{planned.item_id}/{planned.site_id}"
    before = rows(engine)
    answer = post(client, f"{item_page}/override", form, page=item_page)
    assert answer.status_code == 303
    assert words in _flash(client, item_page)
    assert rows(engine) == before


def test_a_replayed_override_or_accept_posts_once(console_member, planned, engine, session_factory, demo):
    client = console_member("赵经理")
    item_page = f"{HOME}/{planned.item_id}/{planned.site_id}"
    form = _override_form(client, planned)
    assert post(client, f"{item_page}/override", form, page=item_page).status_code == 303
    after_first = rows(engine)
    for _ in range(2):
        assert post(client, f"{item_page}/override", form, page=item_page).status_code == 303
    assert rows(engine) == after_first
    # the same request id with another quantity: a conflict, not a second override
    assert post(client, f"{item_page}/override", {**form, "quantity": "12"}, page=item_page).status_code == 303
    assert rows(engine) == after_first
    with session_factory() as session:
        suggestion = session.scalars(select(ReplenishmentSuggestion).where(
            ReplenishmentSuggestion.org_id == demo.org_id,
            ReplenishmentSuggestion.status == SuggestionStatus.PROPOSED,
            ReplenishmentSuggestion.kind == "transfer")).first()
    accept = {"request_id": "c" * 32}
    assert post(client, f"{HOME}/suggestions/{suggestion.id}/accept", accept, page=HOME).status_code == 303
    accepted = rows(engine)
    assert post(client, f"{HOME}/suggestions/{suggestion.id}/accept", accept, page=HOME).status_code == 303
    assert post(client, f"{HOME}/suggestions/{suggestion.id}/accept", {"request_id": "d" * 32},
                page=HOME).status_code == 303  # a new form for a decided suggestion: refused by its state
    assert rows(engine) == accepted
    assert "不能再处理" in _flash(client, f"{HOME}/suggestions")


def test_another_orgs_supplier_cannot_be_picked_for_our_purchase(console_member, planned, other_org, engine,
                                                                  session_factory, demo):
    from tests.models.planning_fakes import supplierless_purchase

    other, _theirs = other_org
    suggestion_id = supplierless_purchase(session_factory, demo)
    client = console_member("赵经理")
    html = client.get(f"{HOME}/suggestions").get_data(as_text=True)
    assert f'value="{other.parties["包装厂"]}"' not in html  # their supplier is not offered
    before = rows(engine)
    for party_id in (str(other.parties["包装厂"]), str(demo.parties["杭州茶城"]), "-1", "1e3", "９"):
        answer = post(client, f"{HOME}/suggestions/{suggestion_id}/accept",
                      {"party_id": party_id, "request_id": request_id_of(html)}, page=f"{HOME}/suggestions")
        assert answer.status_code in (303, 422), party_id
        flashed = _flash(client, f"{HOME}/suggestions") if answer.status_code == 303 else answer.get_data(as_text=True)
        assert "不是本组织在用的供应商" in flashed or "供应商须是整数" in flashed, party_id
    assert rows(engine) == before
    with session_factory() as session:
        still = session.get(ReplenishmentSuggestion, suggestion_id)
        assert (still.status, still.party_id) == (SuggestionStatus.PROPOSED, None)
