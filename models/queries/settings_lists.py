"""The settings lists: sites, items with grades, parties, members with roles, the org's settings.

Each list is one page of at most ``PAGE`` rows in id order with a keyset cursor (``after_id``),
filtered in SQL, and loads its children (grades, roles) in one more statement, never per row.
Every function checks the read permission and scopes to the actor's organisation.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.orm import Session, aliased

from models.actor import Actor, Permission
from models.catalog import Dimension, Grade, Item, ItemUnit, Unit
from models.errors import PermissionDenied
from models.org import Member, MemberIdentity, MemberRole, Org, Party, PartyKind, Site, SiteKind

PAGE = 50
#: Exports read whole lists, in pages of this size.
EXPORT_MAX = 20_000


def require_any(actor: Actor, *permissions: Permission) -> None:
    """Refuse unless the actor holds one of ``permissions`` (at some site, for site-bound ones)."""
    for p in permissions:
        if actor.can(p) or any(actor.can(p, s) for _r, s in actor.roles if s is not None):
            return
    actor.require(permissions[0])
    raise PermissionDenied()  # unreachable: require raised


@dataclass(frozen=True)
class Page:
    rows: list[Any]
    #: The cursor of the next page, or None on the last one.
    next_after: int | None


def _page(rows: list[Any], limit: int) -> Page:
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, rows[-1].id if more and rows else None)


def _like(q: str) -> str:
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _keyset(stmt: Any, column: Any, after_id: int | None, limit: int) -> Select[Any]:
    if after_id is not None:
        stmt = stmt.where(column > after_id)
    return stmt.order_by(column).limit(limit + 1)


# --- sites ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SiteRow:
    id: int
    code: str
    name: str
    kind: str
    allow_negative: bool
    active: bool


SITE_KIND_LABELS = {SiteKind.COLLECTION_POINT.value: "收购点", SiteKind.WAREHOUSE.value: "仓库",
                    SiteKind.STORE.value: "门店", SiteKind.EDGE.value: "边缘节点", SiteKind.IN_TRANSIT.value: "在途"}


def sites(session: Session, actor: Actor, *, include_routes: bool = False) -> list[SiteRow]:
    """The org's sites (and, when asked, the in-transit sites of its transfer routes)."""
    require_any(actor, Permission.VIEW_STOCK, Permission.ROLES)
    stmt = select(Site).where(Site.org_id == actor.org_id)
    if not include_routes:
        stmt = stmt.where(Site.kind != SiteKind.IN_TRANSIT)
    return [SiteRow(s.id, s.code, s.name, s.kind.value, s.allow_negative, s.active)
            for s in session.scalars(stmt.order_by(Site.code))]


@dataclass(frozen=True)
class RouteRow:
    """A transfer route (its in-transit site) with both ends."""

    id: int
    from_code: str
    from_name: str
    to_code: str
    to_name: str
    transit_hours: int | None
    active: bool


def routes(session: Session, actor: Actor) -> list[RouteRow]:
    """The org's transfer routes (declared, or made by a first transfer), by their ends' codes."""
    require_any(actor, Permission.VIEW_STOCK, Permission.ROLES)
    source, dest = aliased(Site), aliased(Site)
    stmt = (select(Site.id, source.code, source.name, dest.code, dest.name, Site.transit_hours, Site.active)
            .join(source, source.id == Site.route_from_id).join(dest, dest.id == Site.route_to_id)
            .where(Site.org_id == actor.org_id, Site.kind == SiteKind.IN_TRANSIT)
            .order_by(source.code, dest.code))
    return [RouteRow(*r) for r in session.execute(stmt)]


# --- units ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class UnitRow:
    id: int
    name: str
    dimension: str
    #: Mass: kilograms per unit; count: 1.
    factor: Decimal


DIMENSION_LABELS = {Dimension.MASS.value: "重量", Dimension.COUNT.value: "件数"}


def units(session: Session, actor: Actor) -> list[UnitRow]:
    """The org's units of measure (mass units by size, then count units by name)."""
    require_any(actor, Permission.VIEW_STOCK, Permission.PRICES)
    stmt = select(Unit.id, Unit.name, Unit.dimension, Unit.factor).where(Unit.org_id == actor.org_id)
    return [UnitRow(r.id, r.name, r.dimension.value, r.factor.normalize()) for r in session.execute(
        stmt.order_by(Unit.dimension, Unit.factor, Unit.id))]


# --- items ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class GradeRow:
    id: int
    name: str
    purchase_price: Decimal
    rank: int


@dataclass(frozen=True)
class PackRow:
    id: int
    name: str
    #: Base units in one pack.
    factor: Decimal


@dataclass(frozen=True)
class ItemRow:
    id: int
    code: str
    name: str
    base_unit: str
    dimension: str
    shelf_life_days: int | None
    aliases: str
    sale_price: Decimal | None
    vat_rate: Decimal | None
    active: bool
    grades: list[GradeRow]
    #: "箱=20" …
    packs: list[str]
    #: The same packs with their ids, for the item page's edit forms.
    pack_rows: list[PackRow] = field(default_factory=list)


def items(session: Session, actor: Actor, *, q: str = "", after_id: int | None = None,
          limit: int = PAGE, item_id: int | None = None) -> Page:
    """A page of items (code, name or alias containing ``q``) with their grades and packs."""
    require_any(actor, Permission.VIEW_STOCK, Permission.PRICES)
    stmt = select(Item.id, Item.code, Item.name, Item.base_unit, Item.dimension, Item.shelf_life_days,
                  Item.aliases, Item.sale_price, Item.vat_rate, Item.active).where(Item.org_id == actor.org_id)
    if item_id is not None:
        stmt = stmt.where(Item.id == item_id)
    if q.strip():
        like = _like(q.strip())
        stmt = stmt.where(or_(Item.code.like(like, escape="\\"), Item.name.like(like, escape="\\"),
                              Item.aliases.like(like, escape="\\")))
    found = session.execute(_keyset(stmt, Item.id, after_id, limit)).all()
    ids = [r.id for r in found[:limit]]
    grades: dict[int, list[GradeRow]] = defaultdict(list)
    packs: dict[int, list[str]] = defaultdict(list)
    pack_rows: dict[int, list[PackRow]] = defaultdict(list)
    if ids:
        for g in session.execute(select(Grade.id, Grade.item_id, Grade.name, Grade.purchase_price, Grade.rank)
                                 .where(Grade.item_id.in_(ids)).order_by(Grade.rank, Grade.id)):
            grades[g.item_id].append(GradeRow(g.id, g.name, g.purchase_price, g.rank))
        for p in session.execute(select(ItemUnit.id, ItemUnit.item_id, ItemUnit.name, ItemUnit.factor)
                                 .where(ItemUnit.item_id.in_(ids)).order_by(ItemUnit.id)):
            packs[p.item_id].append(f"{p.name}={p.factor.normalize():f}")
            pack_rows[p.item_id].append(PackRow(p.id, p.name, p.factor.normalize()))
    rows = [ItemRow(r.id, r.code, r.name, r.base_unit, r.dimension.value, r.shelf_life_days, r.aliases,
                    r.sale_price, r.vat_rate, r.active, grades[r.id], packs[r.id], pack_rows[r.id]) for r in found]
    return _page(rows, limit)


# --- parties -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class PartyRow:
    id: int
    code: str
    name: str
    kind: str
    phone: str | None
    credit_days: int
    credit_limit: Decimal | None
    vat_rate: Decimal | None
    active: bool
    #: The member account of a farmer (to issue a binding code), if any.
    member_id: int | None


PARTY_KIND_LABELS = {PartyKind.FARMER.value: "农户", PartyKind.SUPPLIER.value: "供货商",
                     PartyKind.CUSTOMER.value: "客户"}


def parties(session: Session, actor: Actor, *, kind: str = "", q: str = "", after_id: int | None = None,
            limit: int = PAGE, party_id: int | None = None) -> Page:
    """A page of farmers, suppliers and customers (of one kind; code, name or phone containing ``q``)."""
    require_any(actor, Permission.ORDER_PURCHASE, Permission.ORDER_SALES, Permission.VIEW_FINANCE,
                Permission.MEMBERS)
    stmt = select(Party).where(Party.org_id == actor.org_id)
    if party_id is not None:
        stmt = stmt.where(Party.id == party_id)
    if kind in PARTY_KIND_LABELS:
        stmt = stmt.where(Party.kind == PartyKind(kind))
    if q.strip():
        like = _like(q.strip())
        stmt = stmt.where(or_(Party.code.like(like, escape="\\"), Party.name.like(like, escape="\\"),
                              Party.phone.like(like, escape="\\")))
    found = list(session.scalars(_keyset(stmt, Party.id, after_id, limit)))
    ids = [p.id for p in found[:limit]]
    members: dict[int, int] = {}
    if ids:
        members = {pid: mid for mid, pid in session.execute(select(Member.id, Member.party_id).where(
            Member.org_id == actor.org_id, Member.party_id.in_(ids), Member.active.is_(True))) if pid is not None}
    rows = [PartyRow(p.id, p.code, p.name, p.kind.value, p.phone, p.credit_days, p.credit_limit, p.vat_rate,
                     p.active, members.get(p.id)) for p in found]
    return _page(rows, limit)


# --- members -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RoleRow:
    role: str
    site_id: int | None
    site_name: str


@dataclass(frozen=True)
class MemberRow:
    id: int
    name: str
    phone: str | None
    party_id: int | None
    active: bool
    roles: list[RoleRow]
    #: How many chat / mini-program accounts are bound.
    bindings: int
    created_at: datetime


def members(session: Session, actor: Actor, *, q: str = "", after_id: int | None = None, limit: int = PAGE,
            member_id: int | None = None) -> Page:
    """A page of members with their roles (and sites) and how many accounts each has bound."""
    require_any(actor, Permission.MEMBERS, Permission.ROLES)
    stmt = select(Member.id, Member.name, Member.phone, Member.party_id, Member.active, Member.created_at).where(
        Member.org_id == actor.org_id)
    if member_id is not None:
        stmt = stmt.where(Member.id == member_id)
    if q.strip():
        like = _like(q.strip())
        stmt = stmt.where(or_(Member.name.like(like, escape="\\"), Member.phone.like(like, escape="\\")))
    found = session.execute(_keyset(stmt, Member.id, after_id, limit)).all()
    ids = [r.id for r in found[:limit]]
    roles: dict[int, list[RoleRow]] = defaultdict(list)
    bound: dict[int, int] = defaultdict(int)
    if ids:
        names = {sid: name for sid, name in session.execute(
            select(Site.id, Site.name).where(Site.org_id == actor.org_id))}
        for r in session.execute(select(MemberRole.member_id, MemberRole.role, MemberRole.site_id)
                                 .where(MemberRole.member_id.in_(ids)).order_by(MemberRole.id)):
            roles[r.member_id].append(RoleRow(r.role.value, r.site_id, names.get(r.site_id, "全部地点")
                                              if r.site_id is not None else "全部地点"))
        for mid in session.scalars(select(MemberIdentity.member_id).where(MemberIdentity.member_id.in_(ids))):
            bound[mid] += 1
    rows = [MemberRow(r.id, r.name, r.phone, r.party_id, r.active, roles[r.id], bound[r.id], r.created_at)
            for r in found]
    return _page(rows, limit)


# --- the organisation ----------------------------------------------------------------------------

@dataclass(frozen=True)
class OrgView:
    id: int
    code: str
    name: str
    prepayment_ratio: Decimal
    settings: dict[str, Any]


def organisation(session: Session, actor: Actor) -> OrgView:
    """The organisation's name, prepayment ratio and settings."""
    require_any(actor, Permission.ROLES, Permission.MEMBERS, Permission.PRICES)
    org = session.get_one(Org, actor.org_id)
    return OrgView(org.id, org.code, org.name, org.prepayment_ratio, dict(org.settings or {}))


def all_pages(fetch: Any, **kwargs: Any) -> Iterable[Any]:
    """Every row of a paged list (for an export), up to ``EXPORT_MAX``."""
    after: int | None = None
    seen = 0
    while seen < EXPORT_MAX:
        page: Page = fetch(after_id=after, limit=500, **kwargs)
        yield from page.rows
        seen += len(page.rows)
        if page.next_after is None:
            return
        after = page.next_after
