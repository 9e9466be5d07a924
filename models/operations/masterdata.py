"""Organisations, sites, items, parties and members; price and role changes are audited."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.audit import record_audit
from models.catalog import Dimension, Grade, Item, ItemUnit, Unit
from models.chart import ACCOUNTS, DEFAULT_RULES, MASS_UNITS
from models.errors import ValidationError
from models.finance import Account, MappingRule
from models.idempotency import idempotent
from models.lookup import get_owned
from models.operations.common import check_unit_price
from models.org import (
    IdentityProvider,
    Member,
    MemberIdentity,
    MemberRole,
    Org,
    Party,
    PartyKind,
    Role,
    Site,
    SiteKind,
)
from models.outbox import emit
from models.vat import ORG_SETTING as VAT_ORG_SETTING
from models.vat import check_party_rate, check_rate


@dataclass(frozen=True)
class CreateOrg:
    code: str
    name: str
    prepayment_ratio: Decimal = Decimal("0.7")


def create_org(session: Session, cmd: CreateOrg) -> int:
    """Create an organisation with its units, chart of accounts and default mapping rules."""
    if not (Decimal(0) <= cmd.prepayment_ratio <= Decimal(1)):
        raise ValidationError("预付比例应在 0 到 1 之间", field="prepayment_ratio")
    org = Org(code=cmd.code, name=cmd.name, prepayment_ratio=cmd.prepayment_ratio, settings={})
    session.add(org)
    session.flush()
    session.add_all(Unit(org_id=org.id, name=n, dimension=Dimension.MASS, factor=f) for n, f in MASS_UNITS.items())
    session.add_all(
        Account(org_id=org.id, code=c, name=n, category=cat, normal_side=side) for c, n, cat, side in ACCOUNTS
    )
    for event, name, condition, priority, lines in DEFAULT_RULES:
        rule = MappingRule(org_id=org.id, event=event, name=name, condition=condition, priority=priority,
                           lines=lines, version=1)
        session.add(rule)
        session.flush()
        rule.family_id = rule.id
    emit(session, org.id, "org.created", {"org_id": org.id, "code": org.code})
    return org.id


@dataclass(frozen=True)
class CreateSite:
    code: str
    name: str
    kind: SiteKind
    allow_negative: bool = False


def create_site(session: Session, actor: Actor, cmd: CreateSite) -> int:
    """Create a site (warehouse, store, collection point …)."""
    actor.require(Permission.ROLES)
    if cmd.kind == SiteKind.IN_TRANSIT:
        raise ValidationError("在途地点由调拨自动创建", field="kind")
    site = Site(org_id=actor.org_id, code=cmd.code, name=cmd.name, kind=cmd.kind, allow_negative=cmd.allow_negative)
    session.add(site)
    session.flush()
    emit(session, actor.org_id, "site.created", {"site_id": site.id, "code": site.code})
    return site.id


@dataclass(frozen=True)
class GradeSpec:
    name: str
    purchase_price: Decimal
    rank: int = 0


@dataclass(frozen=True)
class CreateItem:
    code: str
    name: str
    base_unit: str
    dimension: Dimension = Dimension.MASS
    shelf_life_days: int | None = None
    aliases: tuple[str, ...] = ()
    sale_price: Decimal | None = None
    #: (name, base units per pack): ("箱", 20).
    packs: tuple[tuple[str, Decimal], ...] = ()
    grades: tuple[GradeSpec, ...] = ()
    #: VAT rate (0.13, 0.09, 0 …); None: the party's or the org's default applies (models.vat).
    vat_rate: Decimal | None = None


def create_item(session: Session, actor: Actor, cmd: CreateItem) -> int:
    """Create an item with its packs and grades."""
    actor.require(Permission.PRICES)
    if cmd.dimension == Dimension.MASS and cmd.base_unit not in MASS_UNITS:
        raise ValidationError(f"重量商品的基本单位须为重量单位，而不是“{cmd.base_unit}”", field="base_unit")
    if any(f <= 0 for _, f in cmd.packs) or any(g.purchase_price < 0 for g in cmd.grades):
        raise ValidationError("包装换算和价格必须为正", field="packs")
    vat_rate = check_rate(cmd.vat_rate) if cmd.vat_rate is not None else None
    item = Item(
        org_id=actor.org_id, code=cmd.code, name=cmd.name, base_unit=cmd.base_unit, dimension=cmd.dimension,
        shelf_life_days=cmd.shelf_life_days, aliases=",".join(cmd.aliases), sale_price=cmd.sale_price,
        vat_rate=vat_rate, packs=[ItemUnit(org_id=actor.org_id, name=n, factor=f) for n, f in cmd.packs],
        grades=[Grade(org_id=actor.org_id, name=g.name, purchase_price=g.purchase_price, rank=g.rank)
                for g in cmd.grades],
    )
    session.add(item)
    session.flush()
    emit(session, actor.org_id, "item.created", {"item_id": item.id, "code": item.code})
    return item.id


@dataclass(frozen=True)
class SetGradePrice:
    grade_id: int
    purchase_price: Decimal
    reason: str = ""


@idempotent("set_grade_price")
def set_grade_price(session: Session, actor: Actor, cmd: SetGradePrice) -> Decimal:
    """Change a grade's purchase price (audited); returns the old price."""
    actor.require(Permission.PRICES)
    grade = get_owned(session, Grade, cmd.grade_id, actor.org_id, lock=True)
    if cmd.purchase_price < 0:
        raise ValidationError("价格不能为负", field="purchase_price")
    old = grade.purchase_price
    grade.purchase_price = cmd.purchase_price
    record_audit(session, actor, "grade.price_changed", "grade", grade.id,
                 before={"purchase_price": str(old)}, after={"purchase_price": str(cmd.purchase_price)},
                 reason=cmd.reason)
    emit(session, actor.org_id, "price.changed", {"grade_id": grade.id, "item_id": grade.item_id,
                                                  "old": str(old), "new": str(cmd.purchase_price)})
    return old


#: Grades one item may have (a co-op grades tea leaf in 3–6; more is a typing loop).
MAX_GRADES = 20


@dataclass(frozen=True)
class AddGrade:
    item_id: int
    name: str
    purchase_price: Decimal
    reason: str = ""


@idempotent("add_grade")
def add_grade(session: Session, actor: Actor, cmd: AddGrade) -> int:
    """Give an existing item one more grade with its purchase price (audited); returns its id.

    It ranks after the item's grades. Receipts see it at once: a new grade is master data, so the
    flush gives the org a new config version (models.catalog_snapshot).
    """
    actor.require(Permission.PRICES)
    item = get_owned(session, Item, cmd.item_id, actor.org_id, lock=True)
    name = (cmd.name or "").strip()
    if not name or len(name) > 16:
        raise ValidationError("等级名称须为 1–16 个字", field="name")
    price = check_unit_price(cmd.purchase_price, "purchase_price")
    existing = session.execute(select(Grade.name, Grade.rank).where(Grade.item_id == item.id)).all()
    if any(g.name == name for g in existing):
        raise ValidationError(f"{item.name} 已有等级“{name}”", field="name")
    if len(existing) >= MAX_GRADES:
        raise ValidationError(f"一个商品最多 {MAX_GRADES} 个等级", field="name")
    grade = Grade(org_id=actor.org_id, item_id=item.id, name=name, purchase_price=price,
                  rank=max((g.rank for g in existing), default=0) + 1)
    session.add(grade)
    session.flush()
    record_audit(session, actor, "grade.created", "grade", grade.id, before=None,
                 after={"item_id": item.id, "name": name, "purchase_price": f"{price:f}"}, reason=cmd.reason)
    emit(session, actor.org_id, "grade.created", {"grade_id": grade.id, "item_id": item.id, "name": name,
                                                  "purchase_price": f"{price:f}"})
    return grade.id


@dataclass(frozen=True)
class CreateParty:
    code: str
    name: str
    kind: PartyKind
    phone: str | None = None
    #: VAT rate overriding the item's (a 小规模纳税人 supplier: 0.03); None: not set (models.vat).
    vat_rate: Decimal | None = None


def create_party(session: Session, actor: Actor, cmd: CreateParty) -> int:
    """Create a farmer, supplier or customer under its one golden code."""
    actor.require(Permission.ORDER_PURCHASE if cmd.kind != PartyKind.CUSTOMER else Permission.ORDER_SALES)
    exists = session.scalar(select(Party.id).where(Party.org_id == actor.org_id, Party.code == cmd.code))
    if exists is not None:
        raise ValidationError(f"编码 {cmd.code} 已被使用", field="code")
    vat_rate = check_rate(cmd.vat_rate) if cmd.vat_rate is not None else None
    check_party_rate(cmd.kind, vat_rate)
    party = Party(org_id=actor.org_id, code=cmd.code, name=cmd.name, kind=cmd.kind, phone=cmd.phone,
                  vat_rate=vat_rate)
    session.add(party)
    session.flush()
    emit(session, actor.org_id, "party.created", {"party_id": party.id, "code": party.code})
    return party.id


@dataclass(frozen=True)
class SetVatRate:
    """Set (or clear, with None) the VAT rate of one item or one party."""

    rate: Decimal | None
    item_id: int | None = None
    party_id: int | None = None
    reason: str = ""


@dataclass(frozen=True)
class VatRate:
    item_id: int | None
    party_id: int | None
    name: str
    rate: Decimal | None
    previous: Decimal | None


@idempotent("vat_rate.set")
def set_vat_rate(session: Session, actor: Actor, cmd: SetVatRate) -> VatRate:
    """Change an item's or a party's VAT rate (audited). It decides the tax line of every voucher
    posted from now on, so it needs the mapping permission (修改记账规则); posted documents keep theirs."""
    actor.require(Permission.MAPPING)
    if (cmd.item_id is None) == (cmd.party_id is None):
        raise ValidationError("请指定一个商品或一个往来单位", field="item_id")
    rate = check_rate(cmd.rate) if cmd.rate is not None else None
    target: Item | Party = (get_owned(session, Item, cmd.item_id, actor.org_id, lock=True) if cmd.item_id is not None
                            else get_owned(session, Party, cmd.party_id, actor.org_id, lock=True))
    entity = "item" if isinstance(target, Item) else "party"
    if isinstance(target, Party):
        check_party_rate(target.kind, rate)
    previous = target.vat_rate
    target.vat_rate = rate
    record_audit(session, actor, f"{entity}.vat_rate", entity, target.id,
                 before={"vat_rate": str(previous) if previous is not None else None},
                 after={"vat_rate": str(rate) if rate is not None else None}, reason=cmd.reason)
    return VatRate(item_id=cmd.item_id, party_id=cmd.party_id, name=target.name, rate=rate, previous=previous)


@dataclass(frozen=True)
class SetDefaultVatRate:
    """The organisation's own VAT rate: what applies when neither the document, the party nor the
    item sets one (a 一般纳税人 co-op selling goods: 0.13). None clears it (then 0)."""

    rate: Decimal | None
    reason: str = ""


@idempotent("vat_rate.default")
def set_default_vat_rate(session: Session, actor: Actor, cmd: SetDefaultVatRate) -> VatRate:
    """Change the org's default VAT rate (audited; 修改记账规则, as an item's or party's rate)."""
    actor.require(Permission.MAPPING)
    rate = check_rate(cmd.rate) if cmd.rate is not None else None
    org = session.get_one(Org, actor.org_id, with_for_update=True)
    settings = dict(org.settings or {})
    raw = settings.get(VAT_ORG_SETTING)
    previous = Decimal(str(raw)) if raw is not None else None
    if rate is None:
        settings.pop(VAT_ORG_SETTING, None)
    else:
        settings[VAT_ORG_SETTING] = str(rate)
    org.settings = settings  # a new dict: the JSON column is written (and the catalog version renewed)
    record_audit(session, actor, "org.vat_rate", "org", org.id,
                 before={"vat_rate": str(previous) if previous is not None else None},
                 after={"vat_rate": str(rate) if rate is not None else None}, reason=cmd.reason)
    return VatRate(item_id=None, party_id=None, name=org.name, rate=rate, previous=previous)


@dataclass(frozen=True)
class CreateMember:
    name: str
    phone: str | None = None
    party_id: int | None = None
    roles: tuple[tuple[Role, int | None], ...] = ()
    identities: tuple[tuple[IdentityProvider, str], ...] = field(default=())


def create_member(session: Session, actor: Actor, cmd: CreateMember) -> int:
    """Create a member with roles (per site) and chat identities; audited."""
    actor.require(Permission.ROLES)
    if cmd.party_id is not None:
        get_owned(session, Party, cmd.party_id, actor.org_id)
    for _, site_id in cmd.roles:
        if site_id is not None:
            get_owned(session, Site, site_id, actor.org_id)
    member = Member(
        org_id=actor.org_id, name=cmd.name, phone=cmd.phone, party_id=cmd.party_id,
        roles=[MemberRole(org_id=actor.org_id, role=r, site_id=s) for r, s in cmd.roles],
        identities=[MemberIdentity(org_id=actor.org_id, provider=p, external_id=x) for p, x in cmd.identities],
    )
    session.add(member)
    session.flush()
    record_audit(session, actor, "member.created", "member", member.id, before=None,
                 after={"name": member.name, "roles": [[r.value, s] for r, s in cmd.roles]})
    return member.id


@dataclass(frozen=True)
class AssignRole:
    member_id: int
    role: Role
    site_id: int | None = None
    revoke: bool = False


@idempotent("assign_role")
def assign_role(session: Session, actor: Actor, cmd: AssignRole) -> list[str]:
    """Grant or revoke a role at a site (audited); returns the member's roles after."""
    actor.require(Permission.ROLES)
    member = get_owned(session, Member, cmd.member_id, actor.org_id)
    if cmd.site_id is not None:
        get_owned(session, Site, cmd.site_id, actor.org_id)
    before = sorted(f"{r.role.value}@{r.site_id or '*'}" for r in member.roles)
    existing = [r for r in member.roles if r.role == cmd.role and r.site_id == cmd.site_id]
    if cmd.revoke:
        for r in existing:
            member.roles.remove(r)
    elif not existing:
        member.roles.append(MemberRole(org_id=actor.org_id, role=cmd.role, site_id=cmd.site_id))
    session.flush()
    after = sorted(f"{r.role.value}@{r.site_id or '*'}" for r in member.roles)
    record_audit(session, actor, "member.roles_changed", "member", member.id,
                 before={"roles": before}, after={"roles": after})
    emit(session, actor.org_id, "member.roles_changed", {"member_id": member.id, "roles": after})
    return after
