"""settle_farmer with ticked deliveries (the console's checkboxes): pays exactly those, or nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.errors import NotFound, ValidationError
from models.finance import FarmerSettlement, SettlementStatus
from models.operations.settlement import SettleFarmer, settle_farmer
from models.uow import run
from tests.console.money_fixtures import deliveries, other_org, settlement_ids
from tests.miniprogram_api.fixtures_3b import receive
from tests.security.conftest import rows


def _statuses(sf, org_id):
    with sf() as s:
        return {r.id: r.status for r in s.scalars(select(FarmerSettlement).where(FarmerSettlement.org_id == org_id))}


def test_only_the_ticked_deliveries_are_paid(session_factory, demo, actors):
    first, second = deliveries(session_factory, demo, actors, 2)
    ids = settlement_ids(session_factory, demo.org_id)
    result = run(session_factory, settle_farmer, actors["吴会计"],
                 SettleFarmer(demo.parties["王阿姨"], settlement_ids=(ids[second.document_id],)))
    assert [i.receipt_number for i in result.items] == [second.number]
    assert _statuses(session_factory, demo.org_id) == {ids[first.document_id]: SettlementStatus.PREPAYMENT_DUE,
                                                       ids[second.document_id]: SettlementStatus.PREPAID}


@pytest.mark.parametrize("pick", ["paid", "other_farmer", "other_org", "empty", "zero"])
def test_a_bad_pick_pays_nothing(session_factory, engine, demo, actors, pick):
    (mine,) = deliveries(session_factory, demo, actors, 1)
    theirs = receive(session_factory, demo, actors, qty="15", farmer="李大伯")
    ids = settlement_ids(session_factory, demo.org_id)
    if pick == "paid":
        run(session_factory, settle_farmer, actors["吴会计"],
            SettleFarmer(demo.parties["王阿姨"], settlement_ids=(ids[mine.document_id],)))
    other, _people = other_org(session_factory)
    chosen = {
        "paid": (ids[mine.document_id],),
        "other_farmer": (ids[mine.document_id], ids[theirs.document_id]),
        "other_org": tuple(settlement_ids(session_factory, other.org_id).values()),
        "empty": (),
        "zero": (0,),
    }[pick]
    before = rows(engine)
    with pytest.raises(ValidationError):
        run(session_factory, settle_farmer, actors["吴会计"],
            SettleFarmer(demo.parties["王阿姨"], settlement_ids=chosen))
    assert rows(engine) == before


def test_another_orgs_farmer_is_not_found(session_factory, demo, actors):
    other, _people = other_org(session_factory)
    with pytest.raises(NotFound):
        run(session_factory, settle_farmer, actors["吴会计"], SettleFarmer(other.parties["王阿姨"]))
