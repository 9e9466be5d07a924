"""Units, packs and transfer routes in 设置: audited, permission- and org-checked; refusals write nothing;
a new unit is read by the quantity parser and by postings; a deactivated route refuses new transfers."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from sqlalchemy import select

from models.catalog import Dimension, Item, ItemUnit, Unit
from models.demo import seed_demo
from models.errors import (
    DataConflict,
    NotFound,
    PermissionDenied,
    RouteInactive,
    UnitInUse,
    UnknownUnit,
    ValidationError,
)
from models.infra import AuditEntry
from models.operations import (
    DecideTransfer,
    ReceiveGoods,
    RequestTransfer,
    TransferLineIn,
    TransferRef,
    decide_transfer,
    dispatch_transfer,
    receive_goods,
    receive_transfer,
    request_transfer,
)
from models.operations.intake_checks import parse_weight
from models.operations.routes import DeclareRoute, UpdateRoute, declare_route, update_route
from models.operations.units import (
    AddUnit,
    RemovePack,
    RenameUnit,
    SetPack,
    add_unit,
    remove_pack,
    rename_unit,
    set_pack,
)
from models.queries.emergency_transfer import Need, suggest_emergency
from models.queries.settings_lists import items, routes, units
from models.stock import StockMove
from models.uow import run
from tests.security.conftest import rows


def _audit(sf, org_id: int, action: str) -> list[AuditEntry]:
    with sf() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.org_id == org_id, AuditEntry.action == action)
                                .order_by(AuditEntry.id)))


def _receipt(demo, quantity: str, unit: str | None) -> ReceiveGoods:
    return ReceiveGoods(site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=D(quantity), unit=unit,
                        party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"])


# --- units ---------------------------------------------------------------------------------------

def test_a_receipt_in_a_new_unit_is_refused_before_and_booked_after_it_is_added(session_factory, demo, actors):
    sf = session_factory
    with pytest.raises(UnknownUnit):
        run(sf, receive_goods, actors["小周"], _receipt(demo, "3", "筐"))
    with sf() as s, pytest.raises(UnknownUnit):  # typed in the weight field, as models.quantity reads it
        parse_weight(s, _item(s, demo), "3筐", spoken=False)

    unit_id = run(sf, add_unit, actors["赵经理"], AddUnit("筐", Dimension.MASS, "20", "竹筐收茶青"))

    receipt = run(sf, receive_goods, actors["小周"], _receipt(demo, "3", "筐"))
    assert (receipt.quantity, receipt.entered_quantity, receipt.entered_unit) == (D(60), D(3), "筐")
    with sf() as s:
        assert parse_weight(s, _item(s, demo), "3筐", spoken=False) == (D(3), "筐", D(60))
        assert parse_weight(s, _item(s, demo), "3 筐", spoken=False) == (D(3), "筐", D(60))
        assert s.scalar(select(StockMove.quantity).where(StockMove.document_id == receipt.document_id)) == D(60)
        assert [u.name for u in units(s, actors["赵经理"]) if u.id == unit_id] == ["筐"]
    [entry] = _audit(sf, demo.org_id, "unit.created")
    assert entry.after == {"name": "筐", "dimension": "mass", "factor": "20"} and entry.reason == "竹筐收茶青"


def _item(s, demo) -> Item:
    return s.get_one(Item, demo.items["茶青"])


@pytest.mark.parametrize("factor", ["0", "-1", "abc", "1e400", "NaN", "Infinity", "0.0000001"])
def test_bad_unit_factor_is_refused_and_writes_nothing(session_factory, demo, actors, engine, factor):
    before = rows(engine)
    with pytest.raises(ValidationError) as exc:
        run(session_factory, add_unit, actors["赵经理"], AddUnit("筐", Dimension.MASS, factor))
    assert exc.value.details["field"] == "factor"
    assert rows(engine) == before


def test_duplicate_unit_and_bad_names_are_refused(session_factory, demo, actors):
    with pytest.raises(DataConflict):
        run(session_factory, add_unit, actors["赵经理"], AddUnit("斤", Dimension.MASS, "0.5"))
    for name in ("", "2号筐", "半筐", "大 筐", "筐" * 17):
        with pytest.raises(ValidationError):
            run(session_factory, add_unit, actors["赵经理"], AddUnit(name, Dimension.MASS, "20"))


def test_count_unit_has_factor_one(session_factory, demo, actors):
    unit_id = run(session_factory, add_unit, actors["赵经理"], AddUnit("盒", Dimension.COUNT, "12"))
    with session_factory() as s:
        assert s.get_one(Unit, unit_id).factor == D(1)


def test_a_used_unit_cannot_be_renamed_an_unused_one_can(session_factory, demo, actors):
    sf = session_factory
    unit_id = run(sf, add_unit, actors["赵经理"], AddUnit("框", Dimension.MASS, "20"))
    saved = run(sf, rename_unit, actors["赵经理"], RenameUnit(unit_id, "筐", "错别字"))
    assert saved.changed == ("name",)
    [entry] = _audit(sf, demo.org_id, "unit.renamed")
    assert (entry.before, entry.after) == ({"name": "框"}, {"name": "筐"})
    run(sf, receive_goods, actors["小周"], _receipt(demo, "1", "筐"))
    with pytest.raises(UnitInUse) as exc:
        run(sf, rename_unit, actors["赵经理"], RenameUnit(unit_id, "竹筐"))
    assert "历史单据" in exc.value.message
    with sf() as s:
        seeded = s.scalar(select(Unit.id).where(Unit.org_id == demo.org_id, Unit.name == "公斤"))
    with pytest.raises(UnitInUse):  # 茶青 counts in 公斤
        run(sf, rename_unit, actors["赵经理"], RenameUnit(seeded, "大公斤"))


def test_clerk_and_other_org_are_refused(session_factory, demo, actors, engine):
    with session_factory.begin() as s:
        other = seed_demo(s, code="OTHERU", name="别家")
        other_unit = s.scalar(select(Unit.id).where(Unit.org_id == other.org_id, Unit.name == "斤"))
        other_pack_id = s.scalar(select(ItemUnit.id).where(ItemUnit.item_id == other.items["龙井"]))
    before = rows(engine)
    with pytest.raises(PermissionDenied):
        run(session_factory, add_unit, actors["小周"], AddUnit("筐", Dimension.MASS, "20"))
    with pytest.raises(PermissionDenied):
        run(session_factory, set_pack, actors["小周"], SetPack(demo.items["龙井"], "提", "6"))
    with pytest.raises(PermissionDenied):
        run(session_factory, declare_route, actors["赵经理"], DeclareRoute(demo.sites["SX"], demo.sites["MD"]))
    with pytest.raises(NotFound):
        run(session_factory, rename_unit, actors["赵经理"], RenameUnit(other_unit, "x"))
    with pytest.raises(NotFound):
        run(session_factory, set_pack, actors["赵经理"], SetPack(other.items["龙井"], "提", "6"))
    with pytest.raises(NotFound):
        run(session_factory, set_pack, actors["赵经理"], SetPack(demo.items["龙井"], "箱", "6", other_pack_id))
    with pytest.raises(NotFound):
        run(session_factory, remove_pack, actors["赵经理"], RemovePack(other_pack_id))
    with pytest.raises(NotFound):
        run(session_factory, declare_route, actors["钱总监"], DeclareRoute(demo.sites["SX"], other.sites["ZC"]))
    assert rows(engine) == before


# --- packs ---------------------------------------------------------------------------------------

def test_pack_add_change_remove_is_audited_and_posted_moves_stay(session_factory, demo, actors):
    sf = session_factory
    jar = demo.items["龙井"]
    pack_id = run(sf, set_pack, actors["赵经理"], SetPack(jar, "提", "6", reason="礼盒")).id
    receipt = run(sf, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=jar, quantity=D(2), unit="提"))
    assert receipt.quantity == D(12)
    saved = run(sf, set_pack, actors["赵经理"], SetPack(jar, "提", "8", pack_id))
    assert saved.changed == ("factor",)
    with sf() as s:  # the posted receipt keeps 12 罐: moves are in base units
        assert s.scalar(select(StockMove.quantity).where(StockMove.document_id == receipt.document_id)) == D(12)
        [row] = items(s, actors["赵经理"], item_id=jar).rows
        assert [(p.name, p.factor) for p in row.pack_rows if p.id == pack_id] == [("提", D(8))]
    run(sf, remove_pack, actors["赵经理"], RemovePack(pack_id, "不再用"))
    with sf() as s:
        assert s.get(ItemUnit, pack_id) is None
    with pytest.raises(UnknownUnit):
        run(sf, receive_goods, actors["小周"], ReceiveGoods(site_id=demo.sites["SX"], item_id=jar, quantity=D(1),
                                                            unit="提"))
    actions = [e.action for e in _audit(sf, demo.org_id, "pack.created") + _audit(sf, demo.org_id, "pack.updated")
               + _audit(sf, demo.org_id, "pack.removed")]
    assert actions == ["pack.created", "pack.updated", "pack.removed"]
    [updated] = _audit(sf, demo.org_id, "pack.updated")
    assert (updated.before["factor"], updated.after["factor"]) == ("6", "8")


@pytest.mark.parametrize("factor", ["0", "-1", "abc", "1e400"])
def test_bad_pack_factor_is_refused(session_factory, demo, actors, engine, factor):
    before = rows(engine)
    with pytest.raises(ValidationError):
        run(session_factory, set_pack, actors["赵经理"], SetPack(demo.items["龙井"], "提", factor))
    assert rows(engine) == before


def test_pack_named_as_base_unit_mass_unit_or_twice_is_refused(session_factory, demo, actors):
    sf = session_factory
    with pytest.raises(ValidationError):
        run(sf, set_pack, actors["赵经理"], SetPack(demo.items["龙井"], "罐", "1"))
    with pytest.raises(ValidationError):
        run(sf, set_pack, actors["赵经理"], SetPack(demo.items["茶青"], "斤", "2"))
    run(sf, set_pack, actors["赵经理"], SetPack(demo.items["龙井"], "提", "6"))
    with pytest.raises(DataConflict):
        run(sf, set_pack, actors["赵经理"], SetPack(demo.items["龙井"], "提", "8"))
    run(sf, set_pack, actors["赵经理"], SetPack(demo.items["茶青"], "篓", "15"))
    with pytest.raises(DataConflict):  # as a mass unit it would be shadowed by 茶青's pack
        run(sf, add_unit, actors["赵经理"], AddUnit("篓", Dimension.MASS, "20"))


# --- routes --------------------------------------------------------------------------------------

def _transfer(sf, demo, actors, src="SX", dst="ZC"):
    return run(sf, request_transfer, actors["小周"], RequestTransfer(
        demo.sites[src], demo.sites[dst], (TransferLineIn(demo.items["茶青"], D(1)),)))


def test_declared_route_deactivated_refuses_new_transfers_but_in_transit_ones_arrive(
        session_factory, demo, actors):
    sf = session_factory
    run(sf, receive_goods, actors["小周"], _receipt(demo, "10", None))
    route_id = run(sf, declare_route, actors["钱总监"], DeclareRoute(demo.sites["SX"], demo.sites["ZC"], 6, "新线路"))
    moving = _transfer(sf, demo, actors)
    run(sf, decide_transfer, actors["赵经理"], DecideTransfer(moving.document_id, True))
    run(sf, dispatch_transfer, actors["小周"], TransferRef(moving.document_id))
    approved = _transfer(sf, demo, actors)
    run(sf, decide_transfer, actors["赵经理"], DecideTransfer(approved.document_id, True))

    saved = run(sf, update_route, actors["钱总监"], UpdateRoute(route_id, 8, False, "修路"))
    assert saved.changed == ("active", "transit_hours")
    with pytest.raises(RouteInactive) as exc:
        _transfer(sf, demo, actors)
    assert exc.value.code == "ROUTE_INACTIVE" and "已停用" in exc.value.message
    with pytest.raises(RouteInactive):
        run(sf, dispatch_transfer, actors["小周"], TransferRef(approved.document_id))
    arrived = run(sf, receive_transfer, actors["老孙"], TransferRef(moving.document_id))
    assert arrived.status == "received"
    _transfer(sf, demo, actors, src="ZC", dst="SX")  # the way back is another route

    run(sf, update_route, actors["钱总监"], UpdateRoute(route_id, 8, True))
    assert _transfer(sf, demo, actors).status == "requested"
    with sf() as s:
        [row] = [r for r in routes(s, actors["钱总监"]) if r.id == route_id]
        assert (row.from_code, row.to_code, row.transit_hours, row.active) == ("SX", "ZC", 8, True)
    [declared] = _audit(sf, demo.org_id, "route.declared")
    assert declared.after == {"from": "SX", "to": "ZC", "transit_hours": 6}
    assert [e.after for e in _audit(sf, demo.org_id, "route.updated")] == [
        {"transit_hours": 8, "active": False}, {"active": True}]


def test_route_refusals(session_factory, demo, actors, engine):
    sf = session_factory
    run(sf, declare_route, actors["钱总监"], DeclareRoute(demo.sites["SX"], demo.sites["ZC"]))
    before = rows(engine)
    with pytest.raises(DataConflict):
        run(sf, declare_route, actors["钱总监"], DeclareRoute(demo.sites["SX"], demo.sites["ZC"]))
    with pytest.raises(ValidationError):
        run(sf, declare_route, actors["钱总监"], DeclareRoute(demo.sites["SX"], demo.sites["SX"]))
    for hours in (0, -1, 24 * 31):
        with pytest.raises(ValidationError):
            run(sf, declare_route, actors["钱总监"], DeclareRoute(demo.sites["ZC"], demo.sites["SX"], hours))
    with pytest.raises(ValidationError):  # a stock site is not a route
        run(sf, update_route, actors["钱总监"], UpdateRoute(demo.sites["SX"], None, False))
    assert rows(engine) == before


def test_emergency_suggestion_skips_a_deactivated_route_and_prefers_the_shorter_transit(
        session_factory, demo, actors):
    sf, boss = session_factory, actors["钱总监"]
    run(sf, declare_route, boss, DeclareRoute(demo.sites["SX"], demo.sites["MD"], 10))
    fast = run(sf, declare_route, boss, DeclareRoute(demo.sites["ZC"], demo.sites["MD"], 2))
    needs = [Need(demo.items["茶青"])]
    with sf() as s:  # no stock anywhere: both spare 0, the 2-hour route wins
        assert suggest_emergency(s, boss, demo.sites["MD"], needs).source.id == demo.sites["ZC"]
    run(sf, update_route, boss, UpdateRoute(fast, 2, False))
    with sf() as s:
        assert suggest_emergency(s, boss, demo.sites["MD"], needs).source.id == demo.sites["SX"]
