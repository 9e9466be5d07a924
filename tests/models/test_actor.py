"""Permissions and tenancy: roles bind to sites; another organisation's ids simply do not exist."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from decimal import Decimal as D

import pytest
from sqlalchemy import func, select

from models.actor import ROLE_PERMISSIONS, Actor, Permission, load_actor
from models.demo import DemoOrg, seed_demo
from models.documents import DocKind, Document
from models.errors import DomainError, NotFound, PermissionDenied
from models.finance import MappingRule, Voucher
from models.infra import AuditEntry, OutboxEvent
from models.invariants import check_all
from models.operations import (
    AssignRole,
    CancelOrder,
    ChangeMappingRule,
    CountStock,
    CreateMember,
    CreateOrder,
    DecideTransfer,
    FreezeStock,
    OrderLineIn,
    ReceiveGoods,
    RecordQc,
    RequestTransfer,
    ReverseDocument,
    RuleLine,
    SetGradePrice,
    SettleFarmer,
    ShipGoods,
    TransferLineIn,
    TransferRef,
    UnfreezeStock,
    assign_role,
    cancel_order,
    cancel_transfer,
    change_mapping_rule,
    count_stock,
    create_member,
    create_order,
    decide_transfer,
    dispatch_transfer,
    freeze_stock,
    receive_goods,
    receive_transfer,
    record_qc,
    request_transfer,
    reverse_document,
    set_grade_price,
    settle_farmer,
    ship_goods,
    unfreeze_stock,
)
from models.org import Member, Role
from models.stock import Freeze, FreezeDirection, StockMove
from models.uow import run
from tests.factories import assert_books_ok

MISSING = 10**9


@dataclass(frozen=True)
class Other:
    """Another co-operative with a little history: the ids our actors must never reach."""

    org: DemoOrg
    receipt_id: int
    lot_id: int
    transfer_id: int
    freeze_id: int
    order_id: int
    rule_id: int


@pytest.fixture(scope="module")
def other(session_factory) -> Other:
    sf = session_factory
    org = run(sf, seed_demo, f"other-{uuid.uuid4().hex[:10]}")
    root = Actor.system_actor(org.org_id)
    receipt = run(sf, receive_goods, root, ReceiveGoods(
        org.sites["SX"], org.items["茶青"], D(10), party_id=org.parties["王阿姨"], grade_id=org.grades["一级"]))
    transfer = run(sf, request_transfer, root, RequestTransfer(
        org.sites["SX"], org.sites["ZC"], (TransferLineIn(org.items["茶青"], D(1)),)))
    run(sf, decide_transfer, root, DecideTransfer(transfer.document_id, True))
    freeze = run(sf, freeze_stock, root, FreezeStock(
        org.items["茶青"], FreezeDirection.INBOUND, "盘库", site_id=org.sites["MD"]))
    order = run(sf, create_order, root, CreateOrder(
        DocKind.PURCHASE_ORDER, org.sites["ZC"], org.parties["包装厂"],
        (OrderLineIn(org.items["龙井"], D(5), None, D(30)),)))
    with sf() as s:
        rule_id = s.scalars(select(MappingRule.id).where(
            MappingRule.org_id == org.org_id, MappingRule.event == "settlement.paid")).one()
    return Other(org, receipt.document_id, receipt.lot_id, transfer.document_id, freeze.freeze_id,
                 order.document_id, rule_id)


def _fingerprint(sf, org_id):
    """Row counts that any write would change, plus the states that a decision would change."""
    with sf() as s:
        def n(model, *where):
            return s.scalar(select(func.count()).select_from(model).where(model.org_id == org_id, *where))
        statuses = sorted((d.id, d.status.value) for d in s.scalars(select(Document).where(Document.org_id == org_id)))
        return (n(Document), n(StockMove), n(Voucher), n(OutboxEvent), n(AuditEntry), n(MappingRule),
                n(Freeze, Freeze.active.is_(True)), n(Member), statuses)


def _leaf(a):
    return a.items["茶青"]


# (actor name, operation, command builder (ours, theirs))
CROSS_ORG = {
    "receive at their site": ("小周", receive_goods, lambda a, b: ReceiveGoods(
        b.org.sites["SX"], _leaf(a), D(1), party_id=a.parties["王阿姨"], grade_id=a.grades["一级"])),
    "receive their item": ("小周", receive_goods, lambda a, b: ReceiveGoods(
        a.sites["SX"], _leaf(b.org), D(1), party_id=a.parties["王阿姨"], grade_id=a.grades["一级"])),
    "receive from their farmer": ("小周", receive_goods, lambda a, b: ReceiveGoods(
        a.sites["SX"], _leaf(a), D(1), party_id=b.org.parties["王阿姨"], grade_id=a.grades["一级"])),
    "receive at their grade": ("小周", receive_goods, lambda a, b: ReceiveGoods(
        a.sites["SX"], _leaf(a), D(1), party_id=a.parties["王阿姨"], grade_id=b.org.grades["一级"])),
    "receive against their order": ("钱总监", receive_goods, lambda a, b: ReceiveGoods(
        a.sites["ZC"], a.items["龙井"], D(1), party_id=a.parties["包装厂"], purchase_order_id=b.order_id)),
    "ship from their site": ("小周", ship_goods, lambda a, b: ShipGoods(b.org.sites["SX"], _leaf(a), D(1))),
    "ship their item": ("小周", ship_goods, lambda a, b: ShipGoods(a.sites["SX"], _leaf(b.org), D(1))),
    "ship to their customer": ("小周", ship_goods, lambda a, b: ShipGoods(
        a.sites["SX"], _leaf(a), D(1), party_id=b.org.parties["杭州茶城"])),
    "ship against their order": ("钱总监", ship_goods, lambda a, b: ShipGoods(
        a.sites["SX"], _leaf(a), D(1), sales_order_id=b.order_id)),
    "transfer from their site": ("小周", request_transfer, lambda a, b: RequestTransfer(
        b.org.sites["SX"], a.sites["ZC"], (TransferLineIn(_leaf(a), D(1)),))),
    "transfer to their site": ("小周", request_transfer, lambda a, b: RequestTransfer(
        a.sites["SX"], b.org.sites["ZC"], (TransferLineIn(_leaf(a), D(1)),))),
    "transfer their item": ("小周", request_transfer, lambda a, b: RequestTransfer(
        a.sites["SX"], a.sites["ZC"], (TransferLineIn(_leaf(b.org), D(1)),))),
    "decide their transfer (no approver role)": ("小周", decide_transfer,
                                                lambda a, b: DecideTransfer(b.transfer_id, True)),
    "decide their transfer": ("钱总监", decide_transfer, lambda a, b: DecideTransfer(b.transfer_id, False, "不")),
    "dispatch their transfer": ("钱总监", dispatch_transfer, lambda a, b: TransferRef(b.transfer_id)),
    "receive their transfer": ("老孙", receive_transfer, lambda a, b: TransferRef(b.transfer_id)),
    "cancel their transfer": ("小周", cancel_transfer, lambda a, b: TransferRef(b.transfer_id)),
    "count at their site": ("小周", count_stock, lambda a, b: CountStock(b.org.sites["SX"], _leaf(a), D(0))),
    "count their item": ("小周", count_stock, lambda a, b: CountStock(a.sites["SX"], _leaf(b.org), D(0))),
    "qc their lot": ("赵经理", record_qc, lambda a, b: RecordQc(b.lot_id, False, "坏")),
    "freeze their item": ("赵经理", freeze_stock, lambda a, b: FreezeStock(
        _leaf(b.org), FreezeDirection.BOTH, "查")),
    "freeze at their site": ("赵经理", freeze_stock, lambda a, b: FreezeStock(
        _leaf(a), FreezeDirection.BOTH, "查", site_id=b.org.sites["SX"])),
    "freeze their lot": ("赵经理", freeze_stock, lambda a, b: FreezeStock(
        _leaf(a), FreezeDirection.BOTH, "查", lot_id=b.lot_id)),
    "unfreeze their freeze": ("赵经理", unfreeze_stock, lambda a, b: UnfreezeStock(b.freeze_id, "查清了")),
    "settle their farmer": ("吴会计", settle_farmer, lambda a, b: SettleFarmer(b.org.parties["王阿姨"])),
    "reverse their receipt": ("钱总监", reverse_document, lambda a, b: ReverseDocument(b.receipt_id, "冲")),
    "change their mapping": ("吴会计", change_mapping_rule, lambda a, b: ChangeMappingRule(b.rule_id, (
        RuleLine("2202", "debit", "amount"), RuleLine("1001", "credit", "amount")))),
    "price their grade": ("赵经理", set_grade_price, lambda a, b: SetGradePrice(b.org.grades["一级"], D(1))),
    "role for their member": ("钱总监", assign_role, lambda a, b: AssignRole(b.org.members["小周"], Role.DIRECTOR)),
    "role at their site": ("钱总监", assign_role, lambda a, b: AssignRole(
        a.members["小周"], Role.CLERK, b.org.sites["ZC"])),
    "member for their farmer": ("钱总监", create_member,
                                lambda a, b: CreateMember("冒充", None, b.org.parties["王阿姨"])),
    "order at their site": ("钱总监", create_order, lambda a, b: CreateOrder(
        DocKind.PURCHASE_ORDER, b.org.sites["ZC"], a.parties["包装厂"], (OrderLineIn(a.items["龙井"], D(1)),))),
    "order with their supplier": ("钱总监", create_order, lambda a, b: CreateOrder(
        DocKind.PURCHASE_ORDER, a.sites["ZC"], b.org.parties["包装厂"], (OrderLineIn(a.items["龙井"], D(1)),))),
    "cancel their order": ("钱总监", cancel_order, lambda a, b: CancelOrder(b.order_id)),
}


@pytest.fixture(scope="module")
def ours(session_factory) -> tuple[DemoOrg, dict[str, Actor]]:
    """Our co-operative, shared by the cross-organisation cases (each asserts it wrote nothing)."""
    org = run(session_factory, seed_demo, f"ours-{uuid.uuid4().hex[:10]}")
    with session_factory() as s:
        found = {name: load_actor(s, member_id) for name, member_id in org.members.items()}
    _receive_here(session_factory, org, found)  # so that "not found" is not merely "nothing here yet"
    return org, found


@pytest.mark.parametrize("case", list(CROSS_ORG))
def test_another_orgs_ids_are_not_found(session_factory, ours, other, case):
    sf = session_factory
    demo, actors = ours
    name, op, build = CROSS_ORG[case]
    ours, theirs = _fingerprint(sf, demo.org_id), _fingerprint(sf, other.org.org_id)
    with pytest.raises(NotFound) as err:
        run(sf, op, actors[name], build(demo, other))
    assert err.value.code == "NOT_FOUND"
    assert _fingerprint(sf, demo.org_id) == ours
    assert _fingerprint(sf, other.org.org_id) == theirs
    assert_books_ok(sf, demo.org_id)


def _receive_here(sf, demo, actors):
    return run(sf, receive_goods, actors["小周"], ReceiveGoods(
        demo.sites["SX"], demo.items["茶青"], D(10), party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"]))


def test_ids_of_another_org_answer_exactly_like_missing_ids(session_factory, demo, actors, other):
    """Where a permission or stock check comes first, their id and no id at all must look the same."""
    sf = session_factory
    _receive_here(sf, demo, actors)
    leaf = demo.items["茶青"]

    def outcome(op, name, cmd):
        with pytest.raises(DomainError) as err:
            run(sf, op, actors[name], cmd)
        return type(err.value), err.value.code

    pairs = [
        (freeze_stock, "老孙", lambda site: FreezeStock(leaf, FreezeDirection.BOTH, "查", site_id=site),
         other.org.sites["ZC"]),
        (ship_goods, "小周", lambda lot: ShipGoods(demo.sites["SX"], leaf, D(1), lot_id=lot), other.lot_id),
        (count_stock, "小周", lambda lot: CountStock(demo.sites["SX"], leaf, D(1), lot_id=lot), other.lot_id),
        (record_qc, "小周", lambda lot: RecordQc(lot, True), other.lot_id),
    ]
    for op, name, build, their_id in pairs:
        assert outcome(op, name, build(their_id)) == outcome(op, name, build(MISSING)), op.__name__
    assert_books_ok(sf, demo.org_id)


def test_farmer_actor_cannot_move_stock_or_money(session_factory, demo, actors):
    sf = session_factory
    receipt = _receive_here(sf, demo, actors)
    wang = actors["王阿姨"]
    assert wang.party_id == demo.parties["王阿姨"] and wang.roles == ((Role.FARMER, None),)
    sx, leaf = demo.sites["SX"], demo.items["茶青"]
    before = _fingerprint(sf, demo.org_id)
    attempts = [
        (receive_goods, ReceiveGoods(sx, leaf, D(1), party_id=demo.parties["王阿姨"], grade_id=demo.grades["特级"])),
        (ship_goods, ShipGoods(sx, leaf, D(1))),
        (request_transfer, RequestTransfer(sx, demo.sites["ZC"], (TransferLineIn(leaf, D(1)),))),
        (count_stock, CountStock(sx, leaf, D(100))),
        (record_qc, RecordQc(receipt.lot_id, True)),
        (freeze_stock, FreezeStock(leaf, FreezeDirection.BOTH, "查", site_id=sx)),
        (settle_farmer, SettleFarmer(demo.parties["王阿姨"])),
        (reverse_document, ReverseDocument(receipt.document_id, "不卖了")),
        (set_grade_price, SetGradePrice(demo.grades["特级"], D(500))),
    ]
    for op, cmd in attempts:
        with pytest.raises(PermissionDenied):
            run(sf, op, wang, cmd)
    assert _fingerprint(sf, demo.org_id) == before
    assert_books_ok(sf, demo.org_id)


def test_roles_bind_to_their_sites(session_factory, demo, actors):
    sf = session_factory
    sx, zc, md, leaf = demo.sites["SX"], demo.sites["ZC"], demo.sites["MD"], demo.items["茶青"]

    def receive(name, site):
        return run(sf, receive_goods, actors[name], ReceiveGoods(
            site, leaf, D(1), party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"]))

    with pytest.raises(PermissionDenied) as err:
        receive("小周", zc)
    assert err.value.details == {"permission": "receive", "site_id": zc}
    with pytest.raises(PermissionDenied):
        receive("老孙", sx)
    with pytest.raises(PermissionDenied):
        receive("吴会计", sx)  # finance pays; it does not take goods in
    for name, site in (("小周", sx), ("老孙", zc), ("老孙", md), ("赵经理", md), ("钱总监", sx), ("系统", zc)):
        receive(name, site)
    with pytest.raises(PermissionDenied):  # 老孙 counts at his own sites only
        run(sf, count_stock, actors["老孙"], CountStock(sx, leaf, D(0)))
    with sf() as s:
        report = check_all(s, demo.org_id)
    assert report.ok, report.problems()


def test_site_ids(actors, demo):
    sx, zc, md = demo.sites["SX"], demo.sites["ZC"], demo.sites["MD"]
    assert actors["小周"].site_ids(Permission.RECEIVE) == {sx}
    assert actors["小周"].site_ids(Permission.FREEZE) == set()
    assert actors["老孙"].site_ids(Permission.RECEIVE) == {zc, md}
    assert actors["老孙"].site_ids(Permission.FREEZE) == {zc, md}
    assert actors["老孙"].site_ids(Permission.TRANSFER_APPROVE) == set()
    assert actors["赵经理"].site_ids(Permission.RECEIVE) is None
    assert actors["赵经理"].site_ids(Permission.SETTLE) == set()
    assert actors["钱总监"].site_ids(Permission.MAPPING) is None
    assert actors["吴会计"].site_ids(Permission.SETTLE) is None
    assert actors["吴会计"].site_ids(Permission.RECEIVE) == set()
    assert actors["王阿姨"].site_ids(Permission.VIEW_STOCK) == set()
    assert actors["系统"].site_ids(Permission.RECEIVE) is None
    # A site-bound role still holds when no site is asked about; it never holds at another site.
    assert actors["小周"].can(Permission.RECEIVE) and not actors["小周"].can(Permission.RECEIVE, zc)
    mixed = Actor(demo.org_id, None, roles=((Role.CLERK, sx), (Role.FINANCE, None)))
    assert mixed.site_ids(Permission.RECEIVE) == {sx} and mixed.site_ids(Permission.VIEW_STOCK) is None
    assert not Actor(demo.org_id, None).can(Permission.VIEW_STOCK)
    assert ROLE_PERMISSIONS[Role.FARMER] == frozenset()


def test_load_actor(session_factory, demo):
    sf = session_factory
    with sf() as s:
        sun = load_actor(s, demo.members["老孙"])
    assert (sun.org_id, sun.member_id, sun.name, sun.party_id, sun.system) == (
        demo.org_id, demo.members["老孙"], "老孙", None, False)
    assert set(sun.roles) == {(Role.STOREKEEPER, demo.sites["ZC"]), (Role.STOREKEEPER, demo.sites["MD"])}
    with sf() as s:
        s.get_one(Member, demo.members["老孙"]).active = False
        s.commit()
    with sf() as s, pytest.raises(NotFound):
        load_actor(s, demo.members["老孙"])
    with sf() as s, pytest.raises(NotFound):
        load_actor(s, MISSING)
    assert_books_ok(sf, demo.org_id)
