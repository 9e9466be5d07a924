"""Attacks on the console's 资金 pages: members without the finance permission, another org's ids,
forged (CSRF-less) and replayed forms, a reopen without a reason, absurd numbers. Each is refused
and writes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.documents import DocKind
from models.finance import MappingRule, Voucher
from tests.console import conftest as console_fixtures
from tests.console.conftest import post
from tests.console.money_fixtures import (
    deliveries,
    documents,
    farmer_rule_id,
    other_org,
    request_id_of,
    settlement_ids,
)
from tests.security.conftest import rows

# The console's fixtures (a signed-in client per demo member) for this directory's tests.
console_app = console_fixtures.console_app
console_as = console_fixtures.console_as

PAGES = ("/console/money", "/console/money/settlements", "/console/money/cash", "/console/money/margin",
         "/console/money/reports", "/console/money/periods", "/console/money/vouchers", "/console/money/rules")


@pytest.mark.parametrize("who", ["赵经理", "小周", "老孙", "王阿姨"])
def test_members_without_the_finance_permission_see_no_money_page(console_as, who):
    client = console_as(who)
    assert "资金" not in client.get("/console/").get_data(as_text=True).split("</nav>")[0]
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 403, path
        assert "没有查看这个页面的权限" in response.get_data(as_text=True)


def test_a_manager_cannot_settle_or_change_a_rule_by_posting(console_as, demo, actors, session_factory, engine):
    deliveries(session_factory, demo, actors, 1)
    rule_id = farmer_rule_id(session_factory, demo.org_id)
    client = console_as("赵经理")
    before = rows(engine)
    settle = post(client, f"/console/money/settlements/farmers/{demo.parties['王阿姨']}",
                  {"request_id": "a" * 32, "settlement_id": list(map(str, settlement_ids(
                      session_factory, demo.org_id).values()))})
    change = post(client, f"/console/money/rules/{rule_id}",
                  {"request_id": "b" * 32, "account-0": "1403", "side-0": "debit", "amount-0": "goods",
                   "account-1": "2202", "side-1": "credit", "amount-1": "goods"})
    assert settle.status_code == change.status_code == 403
    assert rows(engine) == before


def test_finance_cannot_reopen_a_period(console_as, demo, actors, session_factory, engine):
    """吴会计 may close but not reopen (反结账 is the director's): the page shows no reopen form, and a
    forged one is refused by the operation."""
    deliveries(session_factory, demo, actors, 1)
    client = console_as("吴会计")
    page = client.get("/console/money/periods").get_data(as_text=True)
    with session_factory() as s:
        period = s.scalars(select(Voucher.period).where(Voucher.org_id == demo.org_id)).first()
    post(client, "/console/money/periods/close", {"period": period, "request_id": request_id_of(page)},
         page="/console/money/periods")
    before = rows(engine)
    response = post(client, "/console/money/periods/reopen",
                    {"period": period, "reason": "想改", "request_id": "c" * 32}, page="/console/money/periods")
    assert response.status_code == 303
    assert "没有权限" in client.get("/console/money/periods").get_data(as_text=True)
    assert rows(engine) == before


def test_another_orgs_ids_are_not_found(console_as, demo, session_factory, engine):
    other, _people = other_org(session_factory)
    with session_factory() as s:
        voucher = s.scalars(select(Voucher.id).where(Voucher.org_id == other.org_id)).first()
        rule = s.scalars(select(MappingRule.id).where(MappingRule.org_id == other.org_id)).first()
        settlement = s.scalars(select(Voucher.document_id).where(Voucher.org_id == other.org_id)).first()
    party = other.parties["王阿姨"]
    client = console_as("吴会计")
    for path in (f"/console/money/parties/{party}?side=payable", f"/console/money/parties/{party}/statement",
                 f"/console/money/parties/{party}/statement.pdf", f"/console/money/vouchers/{voucher}",
                 f"/console/money/vouchers/{voucher}.pdf", f"/console/money/rules/{rule}",
                 f"/console/money/settlements/farmers/{party}", f"/console/money/settlements/{settlement}",
                 f"/console/money/margin/{settlement}"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert "找不到" in response.get_data(as_text=True) or "不是" in response.get_data(as_text=True)
    before = rows(engine)
    page = client.get("/console/money/periods").get_data(as_text=True)
    key = request_id_of(page)
    for path, form in (
        (f"/console/money/settlements/farmers/{party}",
         {"settlement_id": [str(i) for i in settlement_ids(session_factory, other.org_id).values()]}),
        (f"/console/money/parties/{party}/money", {"side": "payable", "amount": "10", "via": "bank"}),
        (f"/console/money/parties/{party}/match", {"side": "payable"}),
        (f"/console/money/rules/{rule}/preview", {"account-0": "1403", "side-0": "debit", "amount-0": "goods"}),
        (f"/console/money/rules/{rule}", {"account-0": "1403", "side-0": "debit", "amount-0": "goods"}),
    ):
        response = post(client, path, {**form, "request_id": key}, page="/console/money/periods")
        assert response.status_code in (303, 404), path
    assert rows(engine) == before


def test_a_form_without_csrf_is_refused(console_as, demo, actors, session_factory, engine):
    deliveries(session_factory, demo, actors, 1)
    client = console_as("吴会计")
    before = rows(engine)
    response = client.post(f"/console/money/settlements/farmers/{demo.parties['王阿姨']}", data={
        "request_id": "d" * 32, "settlement_id": list(map(str, settlement_ids(session_factory, demo.org_id).values()))})
    assert response.status_code == 400 and "CSRF_INVALID" in response.get_data(as_text=True)
    assert rows(engine) == before


def test_a_double_settle_pays_once_even_with_a_fresh_form(console_as, demo, actors, session_factory, engine):
    deliveries(session_factory, demo, actors, 1)
    client = console_as("吴会计")
    path = f"/console/money/settlements/farmers/{demo.parties['王阿姨']}"
    page = client.get(path).get_data(as_text=True)
    picks = [str(i) for i in settlement_ids(session_factory, demo.org_id).values()]
    post(client, path, {"request_id": request_id_of(page), "settlement_id": picks}, page=path)
    before = rows(engine)
    # The same deliveries from a second tab rendered before the first submit (a different key).
    response = post(client, path, {"request_id": "e" * 32, "settlement_id": picks}, page=path)
    assert response.status_code == 303
    assert rows(engine) == before
    assert documents(session_factory, demo.org_id, DocKind.SETTLEMENT) == 1
    # Without a key at all: refused before anything runs.
    response = post(client, path, {"settlement_id": picks}, page=path)
    assert response.status_code == 303 and rows(engine) == before


def test_reopen_without_a_reason_is_refused(console_as, demo, actors, session_factory, engine):
    deliveries(session_factory, demo, actors, 1)
    client = console_as("钱总监")
    page = client.get("/console/money/periods").get_data(as_text=True)
    with session_factory() as s:
        period = s.scalars(select(Voucher.period).where(Voucher.org_id == demo.org_id)).first()
    post(client, "/console/money/periods/close", {"period": period, "request_id": request_id_of(page)},
         page="/console/money/periods")
    before = rows(engine)
    response = post(client, "/console/money/periods/reopen", {"period": period, "reason": "   ",
                                                              "request_id": "f" * 32}, page="/console/money/periods")
    assert response.status_code == 303
    assert "反结账须写明原因" in client.get("/console/money/periods").get_data(as_text=True)
    assert rows(engine) == before


@pytest.mark.parametrize("amount", ["1e9", "-5", "0", "10000000000000", "1.234", "NaN", "１００", "", "abc"])
def test_absurd_amounts_write_nothing(console_as, demo, actors, session_factory, engine, amount):
    deliveries(session_factory, demo, actors, 1)
    client = console_as("吴会计")
    wang = demo.parties["王阿姨"]
    path = f"/console/money/parties/{wang}?side=payable"
    page = client.get(path).get_data(as_text=True)
    before = rows(engine)
    response = post(client, f"/console/money/parties/{wang}/money",
                    {"side": "payable", "amount": amount, "via": "bank", "request_id": request_id_of(page)}, page=path)
    assert response.status_code == 303
    assert "金额" in client.get(path).get_data(as_text=True)
    assert rows(engine) == before


@pytest.mark.parametrize("path", ["/console/money/vouchers/99999999999999999999", "/console/money/vouchers?before=-1",
                                  "/console/money/settlements?after=x", "/console/money/reports?period=209913",
                                  "/console/money/vouchers?date_from=2000-01-01&date_to=2099-01-01"])
def test_absurd_ids_and_ranges_are_refused_not_500(console_as, path):
    assert console_as("吴会计").get(path).status_code in (404, 422)
