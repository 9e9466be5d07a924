"""Master data changed since a cursor, read from the outbox and audit log (no table of its own).

The query behind the mini-program's GET /changes (offline phones). The cursor is the server time
of the previous answer. Rows are found through the events and audit entries the master-data
operations already write (item.created, price.changed, site.created, party.created,
member.roles_changed …, audit member.created); each changed entity is sent whole, so reading a
little before the cursor (``SLACK``, for transactions that committed after a later one) only
repeats rows the client upserts anyway. A member without VIEW_STOCK (a farmer) gets only their own
party and member rows. Writes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

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


@dataclass(frozen=True)
class UnitRow:
    name: str
    dimension: str
    factor: Decimal


@dataclass(frozen=True)
class PackRow:
    name: str
    factor: Decimal


@dataclass(frozen=True)
class GradeRow:
    id: int
    name: str
    purchase_price: Decimal
    rank: int


@dataclass(frozen=True)
class ItemRow:
    id: int
    code: str
    name: str
    base_unit: str
    dimension: str
    aliases: list[str]
    sale_price: Decimal | None
    shelf_life_days: int | None
    active: bool
    packs: list[PackRow]
    grades: list[GradeRow]


@dataclass(frozen=True)
class SiteRow:
    id: int
    code: str
    name: str
    kind: str
    active: bool


@dataclass(frozen=True)
class PartyRow:
    id: int
    code: str
    name: str
    kind: str
    active: bool


@dataclass(frozen=True)
class MemberRow:
    id: int
    name: str
    active: bool


@dataclass(frozen=True)
class Changes:
    cursor: str
    #: True: everything (the client replaces its cache); False: only what changed since the cursor.
    full: bool
    units: list[UnitRow]
    items: list[ItemRow]
    sites: list[SiteRow]
    parties: list[PartyRow]
    members: list[MemberRow]


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
    # Annotated: mypy reads the fields of an unpacked Row as object.
    events: Iterable[tuple[str, dict[str, Any]]] = session.execute(select(OutboxEvent.kind, OutboxEvent.payload).where(
        OutboxEvent.org_id == org_id, OutboxEvent.created_at > since,
        OutboxEvent.kind.in_(list(_EVENT_ENTITY))))
    for kind, payload in events:
        table, key = _EVENT_ENTITY[kind]
        if isinstance(payload, dict) and isinstance(payload.get(key), int):
            touched[table].add(payload[key])
    audits = session.execute(select(AuditEntry.entity, AuditEntry.entity_id).where(
        AuditEntry.org_id == org_id, AuditEntry.created_at > since, AuditEntry.entity.in_(["member", "grade"])))
    grade_ids: set[int] = set()
    for entity, entity_id in audits:
        if entity_id.isdigit():
            (touched["members"] if entity == "member" else grade_ids).add(int(entity_id))
    if grade_ids:
        touched["items"] |= set(session.scalars(select(Grade.item_id).where(Grade.id.in_(grade_ids))))
    return touched


def _item(item: Item) -> ItemRow:
    return ItemRow(
        id=item.id, code=item.code, name=item.name, base_unit=item.base_unit, dimension=item.dimension.value,
        aliases=[a for a in item.aliases.split(",") if a] if item.aliases else [],
        sale_price=item.sale_price,
        shelf_life_days=item.shelf_life_days, active=item.active,
        packs=[PackRow(name=p.name, factor=p.factor) for p in item.packs],
        grades=[GradeRow(id=g.id, name=g.name, purchase_price=g.purchase_price, rank=g.rank)
                for g in sorted(item.grades, key=lambda g: (g.rank, g.id))])


def changes_since(session: Session, actor: Actor, cursor: str | None) -> Changes:
    """Return the master data changed since ``cursor`` (everything when None) and the next cursor."""
    now = utcnow()
    org = actor.org_id
    staff = actor.system or actor.can(Permission.VIEW_STOCK)
    full = cursor is None
    touched = None if full else _touched(session, org, decode_cursor(cursor) - SLACK)  # type: ignore[arg-type]

    def rows(model: type, key: str) -> list[Any]:
        stmt: Select[Any] = select(model).where(model.org_id == org).order_by(model.id)  # type: ignore[attr-defined]
        if touched is not None:
            if not touched[key]:
                return []
            stmt = stmt.where(model.id.in_(touched[key]))  # type: ignore[attr-defined]
        return list(session.scalars(stmt))

    parties = [p for p in rows(Party, "parties") if staff or p.id == actor.party_id]
    members = [m for m in rows(Member, "members") if staff or m.id == actor.member_id]
    units = list(session.scalars(select(Unit).where(Unit.org_id == org).order_by(Unit.id))) if full else []
    return Changes(
        cursor=encode_cursor(now), full=full,
        units=[UnitRow(name=u.name, dimension=u.dimension.value, factor=Decimal(u.factor)) for u in units],
        items=[_item(i) for i in rows(Item, "items")],
        sites=[SiteRow(id=s.id, code=s.code, name=s.name, kind=s.kind.value, active=s.active)
               for s in rows(Site, "sites") if s.kind != SiteKind.IN_TRANSIT],
        parties=[PartyRow(id=p.id, code=p.code, name=p.name, kind=p.kind.value, active=p.active) for p in parties],
        members=[MemberRow(id=m.id, name=m.name, active=m.active) for m in members])
