"""Attacks on the money routes: another org's party or open item, a replay with another body, a
clerk recording money, matching more than is open — each refused, and nothing written."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import func, select

from models.demo import seed_demo
from models.documents import Document
from models.finance import OpenItemMatch
from models.org import Party
from models.uow import run
from tests.factories import receive, ship
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, fx_client  # noqa: F401


def _money_rows(session_factory, org_id: int) -> tuple[int, int]:
    with session_factory() as s:
        return (s.scalar(select(func.count()).select_from(Document).where(Document.org_id == org_id)),
                s.scalar(select(func.count()).select_from(OpenItemMatch).where(OpenItemMatch.org_id == org_id)))


def _other_org_with_a_sale(session_factory):
    other = run(session_factory, seed_demo, f"x-{uuid.uuid4().hex[:8]}")
    receive(session_factory, other, 10)
    ship(session_factory, other, 1, unit_price=500)
    return other


def test_another_orgs_party_and_open_items_are_not_found(client, demo, session_factory, as_):
    other = _other_org_with_a_sale(session_factory)
    theirs = other.parties["杭州茶城"]
    before = _money_rows(session_factory, demo.org_id), _money_rows(session_factory, other.org_id)
    r = client.post("/api/v1/finance/money-received", headers=as_("吴会计"), json={"party_id": theirs, "amount": 5})
    assert r.status_code == 404
    for path in (f"/api/v1/finance/parties/{theirs}/open-items",
                 f"/api/v1/finance/parties/{theirs}/statement?date_from=2026-01-01&date_to=2026-12-31"):
        assert client.get(path, headers=as_("吴会计")).status_code == 404, path
    assert client.put(f"/api/v1/finance/parties/{theirs}/credit-terms", headers=as_("吴会计"),
                      json={"credit_days": 9}).status_code == 404
    # Their receivable line, named as an item to match a payment of one of ours: not an open item of ours.
    with session_factory() as s:
        from models.finance import VoucherLine

        their_line = s.scalar(select(VoucherLine.id).where(VoucherLine.org_id == other.org_id,
                                                           VoucherLine.account_code == "1122"))
    r = client.post("/api/v1/finance/money-received", headers=as_("吴会计"), json={
        "party_id": demo.parties["杭州茶城"], "amount": 5, "matches": [{"line_id": their_line, "amount": 5}]})
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "NOT_FOUND"
    assert (_money_rows(session_factory, demo.org_id), _money_rows(session_factory, other.org_id)) == before
    # And their aging is not ours.
    aged = client.get("/api/v1/finance/aging", headers=as_("吴会计")).get_json()
    assert all(row["party_id"] != theirs for row in aged["rows"])


def test_a_replayed_key_with_another_amount_is_a_conflict(client, demo, session_factory, as_):
    customer = demo.parties["杭州茶城"]
    headers = {**as_("吴会计"), "Idempotency-Key": "sk-replay"}
    first = client.post("/api/v1/finance/money-received", headers=headers, json={"party_id": customer, "amount": 10})
    assert first.status_code == 200
    before = _money_rows(session_factory, demo.org_id)
    again = client.post("/api/v1/finance/money-received", headers=headers, json={"party_id": customer, "amount": 99})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "IDEMPOTENCY_CONFLICT"
    assert _money_rows(session_factory, demo.org_id) == before


def test_matching_more_than_is_open_or_than_was_paid_writes_nothing(client, demo, session_factory, as_):
    receive(session_factory, demo, 10)
    ship(session_factory, demo, 1, unit_price=100)
    customer = demo.parties["杭州茶城"]
    line = client.get(f"/api/v1/finance/parties/{customer}/open-items", headers=as_("吴会计")).get_json()["items"][0]
    before = _money_rows(session_factory, demo.org_id)
    for amount, take in (("200", "150"), ("50", "80")):
        r = client.post("/api/v1/finance/money-received", headers=as_("吴会计"), json={
            "party_id": customer, "amount": amount, "matches": [{"line_id": line["line_id"], "amount": take}]})
        assert r.status_code == 422 and r.get_json()["error"]["code"] == "VALIDATION_ERROR", (amount, take)
    assert _money_rows(session_factory, demo.org_id) == before


def test_a_manager_without_the_settle_right_cannot_move_money(client, demo, as_):
    r = client.post("/api/v1/finance/money-paid", headers=as_("赵经理"),
                    json={"party_id": demo.parties["王阿姨"], "amount": 10})
    assert r.status_code == 403


def test_matching_and_credit_terms_of_another_orgs_party_or_by_a_clerk_are_refused(client, demo, session_factory,
                                                                                  as_):
    other = _other_org_with_a_sale(session_factory)
    theirs, ours = other.parties["杭州茶城"], demo.parties["杭州茶城"]
    before = _money_rows(session_factory, demo.org_id), _money_rows(session_factory, other.org_id)
    r = client.post(f"/api/v1/finance/parties/{theirs}/match", headers=as_("吴会计"), json={"side": "receivable"})
    assert r.status_code == 404 and r.get_json()["error"]["code"] == "NOT_FOUND"
    for name in ("小周", "王阿姨", "赵经理"):
        assert client.post(f"/api/v1/finance/parties/{ours}/match", headers=as_(name), json={}).status_code == 403
        assert client.put(f"/api/v1/finance/parties/{ours}/credit-terms", headers=as_(name),
                          json={"credit_days": 9}).status_code == 403
    assert (_money_rows(session_factory, demo.org_id), _money_rows(session_factory, other.org_id)) == before


@pytest.mark.parametrize("body", [{"credit_days": -1}, {"credit_days": 3651}, {"credit_days": 10 ** 12},
                                  {"credit_days": "30"}, {"credit_days": True}, {"credit_days": 30, "credit_limit": 0},
                                  {"credit_days": 30, "credit_limit": "1e13"},
                                  {"credit_days": 30, "credit_limit": "0.001"}])
def test_absurd_credit_terms_are_refused_and_change_nothing(client, demo, session_factory, as_, body):
    customer = demo.parties["杭州茶城"]
    with session_factory() as s:
        before = s.execute(select(Party.credit_days, Party.credit_limit).where(Party.id == customer)).one()
    r = client.put(f"/api/v1/finance/parties/{customer}/credit-terms", headers=as_("吴会计"), json=body)
    assert r.status_code == 422, body
    with session_factory() as s:
        assert s.execute(select(Party.credit_days, Party.credit_limit).where(Party.id == customer)).one() == before


def test_matching_twice_sets_each_credit_against_a_charge_once(client, demo, session_factory, as_):
    receive(session_factory, demo, 10)
    ship(session_factory, demo, 1, unit_price=100)
    customer = demo.parties["杭州茶城"]
    advance = client.post("/api/v1/finance/money-received", headers=as_("吴会计"),
                          json={"party_id": customer, "amount": 30, "matches": []})
    assert advance.status_code == 200 and advance.get_json()["unapplied"] == "30.00"
    first = client.post(f"/api/v1/finance/parties/{customer}/match", headers=as_("吴会计"), json={})
    assert first.status_code == 200 and first.get_json()["unapplied_credits"] == "0.00"
    rows = _money_rows(session_factory, demo.org_id)
    again = client.post(f"/api/v1/finance/parties/{customer}/match", headers=as_("吴会计"), json={})
    assert again.status_code == 200 and again.get_json()["matched"] == []
    assert _money_rows(session_factory, demo.org_id) == rows
    items = client.get(f"/api/v1/finance/parties/{customer}/open-items", headers=as_("吴会计")).get_json()
    assert items["open_charges"] == "70.00"
