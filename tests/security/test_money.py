"""Attacks on the money routes: another org's party or open item, a replay with another body, a
clerk recording money, matching more than is open — each refused, and nothing written."""

from __future__ import annotations

import uuid

from sqlalchemy import func, select

from models.demo import seed_demo
from models.documents import Document
from models.finance import OpenItemMatch
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
