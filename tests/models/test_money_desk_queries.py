"""The console's money reads: farmers due and the voucher pages, keyset-paged and org-scoped."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from models.errors import NotFound, ValidationError
from models.finance import Voucher
from models.queries.farmer_settlements import farmer_due, farmers_due, settlement_paper
from models.queries.voucher_pages import voucher_page
from tests.console.money_fixtures import deliveries, other_org
from tests.miniprogram_api.fixtures_3b import receive

DAYS = (date(2000, 1, 1), date(2099, 12, 31))


def test_farmers_due_pages_by_party_and_stays_in_the_org(session_factory, demo, actors):
    deliveries(session_factory, demo, actors, 2)
    receive(session_factory, demo, actors, qty="15", farmer="李大伯")
    other, _people = other_org(session_factory)
    with session_factory() as s:
        first = farmers_due(s, demo.org_id, limit=1)
        second = farmers_due(s, demo.org_id, after=first.next_after, limit=1)
        every = farmers_due(s, demo.org_id)
        with pytest.raises(NotFound):
            farmer_due(s, demo.org_id, other.parties["王阿姨"])
        with pytest.raises(NotFound):  # a customer is not a farmer to settle
            farmer_due(s, demo.org_id, demo.parties["包装厂"])
    assert [f.party_name for f in first.farmers + second.farmers] == ["王阿姨", "李大伯"]
    assert second.next_after is None and every.next_after is None
    assert [f.deliveries for f in every.farmers] == [2, 1]
    assert other.parties["王阿姨"] not in [f.party_id for f in every.farmers]


def test_voucher_pages_walk_back_without_gaps_or_repeats(session_factory, demo, actors):
    deliveries(session_factory, demo, actors, 3)
    other, _people = other_org(session_factory)
    seen: list[int] = []
    before = None
    with session_factory() as s:
        while True:
            page = voucher_page(s, demo.org_id, date(2026, 1, 1), date(2027, 12, 31), before, limit=2)
            seen += [v.voucher_id for v in page.vouchers]
            before = page.next_before
            if before is None:
                break
        mine = s.scalars(select(Voucher.id).where(Voucher.org_id == demo.org_id).order_by(Voucher.id.desc())).all()
        with pytest.raises(ValidationError):
            voucher_page(s, demo.org_id, *DAYS)  # a century is not a report
        with pytest.raises(NotFound):
            settlement_paper(s, demo.org_id, s.scalars(select(Voucher.document_id).where(
                Voucher.org_id == other.org_id)).first())
    assert seen == list(mine) and len(seen) == 3
