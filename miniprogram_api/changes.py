"""Master data changed since a cursor, read from the outbox and audit log (no table of its own).

The cursor is the server time of the previous answer. Rows are found through the events and
audit entries the master-data operations already write (item.created, price.changed,
site.created, party.created, member.roles_changed …, audit member.created); each changed
entity is sent whole, so reading a little before the cursor (``SLACK``, for transactions that
committed after a later one) only repeats rows the client upserts anyway.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from miniprogram_api.apiutil import dec
from models.actor import Actor, Permission
from models.base import utcnow
from models.catalog import Grade, Item, Unit
from models.errors import ValidationError
from models.infra import AuditEntry, OutboxEvent
from models.org import Member, Party, Site, SiteKind

CURSOR_PATTERN = r"^c1\.[0-9]{1,16}$"
#: How far before the cursor to look again, for transactions that committed late.
SLACK = timedelta(seconds=120)

_EVENT_ENTITY = {
    "site.created": ("sites", "site_id"), "item.created": ("items", "item_id"),
    "price.changed": ("items", "item_id"), "party.created": ("parties", "party_id"),
    "member.roles_changed": ("members", "member_id"), "member.identity_bound": ("members", "member_id"),
}


class UnitOut(BaseModel):
    name: str
    dimension: str
    factor: str


class PackOut(BaseModel):
    name: str
    factor: str


class GradeOut(BaseModel):
    id: int
    name: str
    purchase_price: str
    rank: int


class ItemOut(BaseModel):
    id: int
    code: str
    name: str
    base_unit: str
    dimension: str
    aliases: list[str]
    sale_price: str | None
    shelf_life_days: int | None
    active: bool
    packs: list[PackOut]
    grades: list[GradeOut]


class SiteOut(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    active: bool


class PartyOut(BaseModel):
    id: int
    code: str
    name: str
    kind: str
    active: bool


class MemberOut(BaseModel):
    id: int
    name: str
    active: bool


class ChangesOut(BaseModel):
    cursor: str = Field(description="下次请求带上它")
    full: bool = Field(description="true：这是全量数据，客户端应替换本地缓存")
    units: list[UnitOut]
    items: list[ItemOut]
    sites: list[SiteOut]
    parties: list[PartyOut]
    members: list[MemberOut]


def encode_cursor(moment: datetime) -> str:
    """Return the cursor for a server time."""
    return f"c1.{int(moment.timestamp() * 1_000_000)}"


def decode_cursor(cursor: str) -> datetime:
    """Return the server time a cursor stands for, or raise ValidationError."""
    try:
        return datetime.fromtimestamp(int(cursor.removeprefix("c1.")) / 1_000_000, UTC)
    except (ValueError, OverflowError, OSError) as exc:
        raise ValidationError("cursor 无效，请不带 cursor 重新全量同步", field="cursor") from exc


def _touched(session: Session, org_id: int, since: datetime) -> dict[str, set[int]]:
    touched: dict[str, set[int]] = {"sites": set(), "items": set(), "parties": set(), "members": set()}
    events = session.execute(select(OutboxEvent.kind, OutboxEvent.payload).where(
        OutboxEvent.org_id == org_id, OutboxEvent.created_at > since,
        OutboxEvent.kind.in_(list(_EVENT_ENTITY))))
    for kind, payload in events:
        table, key = _EVENT_ENTITY[kind]
        if isinstance(payload, dict) and isinstance(payload.get(key), int):
            touched[table].add(payload[key])
    audits = session.execute(select(AuditEntry.entity, AuditEntry.entity_id).where(
        AuditEntry.org_id == org_id, AuditEntry.created_at > since, AuditEntry.entity.in_(["member", "grade"])))
    grade_ids = set()
    for entity, entity_id in audits:
        if entity_id.isdigit():
            (touched["members"] if entity == "member" else grade_ids).add(int(entity_id))
    if grade_ids:
        touched["items"] |= set(session.scalars(select(Grade.item_id).where(Grade.id.in_(grade_ids))))
    return touched


def _item(item: Item) -> ItemOut:
    return ItemOut(
        id=item.id, code=item.code, name=item.name, base_unit=item.base_unit, dimension=item.dimension.value,
        aliases=[a for a in item.aliases.split(",") if a] if item.aliases else [],
        sale_price=dec(item.sale_price) if item.sale_price is not None else None,
        shelf_life_days=item.shelf_life_days, active=item.active,
        packs=[PackOut(name=p.name, factor=dec(p.factor)) for p in item.packs],
        grades=[GradeOut(id=g.id, name=g.name, purchase_price=dec(g.purchase_price), rank=g.rank)
                for g in sorted(item.grades, key=lambda g: (g.rank, g.id))])


def changes_since(session: Session, actor: Actor, cursor: str | None) -> ChangesOut:
    """Return the master data changed since ``cursor`` (everything when None) and the next cursor."""
    now = utcnow()
    org = actor.org_id
    staff = actor.system or actor.can(Permission.VIEW_STOCK)
    full = cursor is None
    touched = None if full else _touched(session, org, decode_cursor(cursor) - SLACK)  # type: ignore[arg-type]

    def rows(model: type, key: str) -> list:  # type: ignore[type-arg]
        stmt = select(model).where(model.org_id == org).order_by(model.id)  # type: ignore[attr-defined]
        if touched is not None:
            if not touched[key]:
                return []
            stmt = stmt.where(model.id.in_(touched[key]))  # type: ignore[attr-defined]
        return list(session.scalars(stmt))

    parties = [p for p in rows(Party, "parties") if staff or p.id == actor.party_id]
    members = [m for m in rows(Member, "members") if staff or m.id == actor.member_id]
    units = list(session.scalars(select(Unit).where(Unit.org_id == org).order_by(Unit.id))) if full else []
    return ChangesOut(
        cursor=encode_cursor(now), full=full,
        units=[UnitOut(name=u.name, dimension=u.dimension.value, factor=dec(Decimal(u.factor))) for u in units],
        items=[_item(i) for i in rows(Item, "items")],
        sites=[SiteOut(id=s.id, code=s.code, name=s.name, kind=s.kind.value, active=s.active)
               for s in rows(Site, "sites") if s.kind != SiteKind.IN_TRANSIT],
        parties=[PartyOut(id=p.id, code=p.code, name=p.name, kind=p.kind.value, active=p.active) for p in parties],
        members=[MemberOut(id=m.id, name=m.name, active=m.active) for m in members])
