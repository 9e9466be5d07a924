"""QC results, freezes and lifted freezes leave audit rows (the lot's trace reads them); notes are bounded."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from models.errors import ValidationError
from models.infra import AuditEntry
from models.operations import FreezeStock, RecordQc, UnfreezeStock, freeze_stock, record_qc, unfreeze_stock
from models.stock import FreezeDirection
from models.uow import run
from tests.miniprogram_api.fixtures_3b import receive
from tests.security.conftest import rows


def _audit(sf, org_id):
    with sf() as s:
        return [(a.action, a.entity, a.reason, a.actor_id) for a in s.scalars(
            select(AuditEntry).where(AuditEntry.org_id == org_id, AuditEntry.entity.in_(("lot", "freeze")))
            .order_by(AuditEntry.id))]


def test_qc_freeze_and_lift_are_audited_with_their_reasons(session_factory, demo, actors):
    got = receive(session_factory, demo, actors)
    boss = actors["赵经理"]
    run(session_factory, record_qc, boss, RecordQc(got.lot_id, False, "含水量高"))
    made = run(session_factory, freeze_stock, boss, FreezeStock(
        demo.items["茶青"], FreezeDirection.OUTBOUND, "待复核", site_id=demo.sites["SX"], lot_id=got.lot_id))
    run(session_factory, unfreeze_stock, boss, UnfreezeStock(made.freeze_id, "复核无误"))
    me = demo.members["赵经理"]
    assert _audit(session_factory, demo.org_id) == [
        ("lot.qc", "lot", "含水量高", me), ("freeze.create", "freeze", "待复核", me),
        ("freeze.lift", "freeze", "复核无误", me)]


@pytest.mark.parametrize("make", [
    lambda d, lot: (record_qc, RecordQc(lot, False, "长" * 201)),
    lambda d, lot: (freeze_stock, FreezeStock(d.items["茶青"], FreezeDirection.BOTH, "长" * 201, lot_id=lot)),
])
def test_overlong_notes_are_refused_before_anything_is_written(session_factory, engine, demo, actors, make):
    got = receive(session_factory, demo, actors)
    fn, command = make(demo, got.lot_id)
    before = rows(engine)
    with pytest.raises(ValidationError):
        run(session_factory, fn, actors["钱总监"], command)
    assert rows(engine) == before
