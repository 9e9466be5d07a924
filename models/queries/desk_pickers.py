"""What a desk user picks from when writing a document: sites, items with their units, parties, and
the sales orders still open to ship against.

Read from the organisation's catalog snapshot (cached per config version: no query on most pages),
so the pickers list exactly what the operations will accept. Writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor
from models.documents import DocKind, DocStatus, Document
from models.org import Party, PartyKind, SiteKind
from models.queries.document_list import visibility
from models.unit_of_work import catalog_of

MAX_OPEN_ORDERS = 200


@dataclass(frozen=True)
class Choice:
    id: int
    label: str


@dataclass(frozen=True)
class ItemChoice:
    id: int
    label: str
    base_unit: str
    #: Every unit the item accepts, base unit first.
    units: tuple[str, ...]
    sale_price: Decimal | None


@dataclass(frozen=True)
class Pickers:
    sites: list[Choice]
    items: list[ItemChoice]
    customers: list[Choice]
    suppliers: list[Choice]


def desk_pickers(session: Session, actor: Actor) -> Pickers:
    """The organisation's active stock sites, items and parties, by code."""
    catalog = catalog_of(session, actor.org_id)
    sites = sorted((s for s in catalog.sites.values() if s.active and s.kind != SiteKind.IN_TRANSIT),
                   key=lambda s: s.code)
    items = sorted((i for i in catalog.items.values() if i.active), key=lambda i: i.code)
    parties = sorted((p for p in catalog.parties.values() if p.active), key=lambda p: p.name)
    return Pickers(
        sites=[Choice(s.id, s.name) for s in sites],
        items=[ItemChoice(i.id, f"{i.name}（{i.code}）", i.base_unit,
                          (i.base_unit, *sorted(u for u in i.unit_factors if u != i.base_unit)), i.sale_price)
               for i in items],
        customers=[Choice(p.id, p.name) for p in parties if p.kind == PartyKind.CUSTOMER],
        suppliers=[Choice(p.id, p.name) for p in parties if p.kind in (PartyKind.SUPPLIER, PartyKind.FARMER)])


def open_sales_orders(session: Session, actor: Actor) -> list[Choice]:
    """The sales orders still to ship (confirmed or partly shipped) the actor may see, newest first."""
    stmt = (select(Document.id, Document.number, Party.name)
            .outerjoin(Party, Party.id == Document.party_id)
            .where(Document.org_id == actor.org_id, Document.kind == DocKind.SALES_ORDER,
                   Document.status.in_((DocStatus.CONFIRMED, DocStatus.PARTIAL)))
            .order_by(Document.id.desc()).limit(MAX_OPEN_ORDERS))
    scope = visibility(actor)
    if scope is not None:
        stmt = stmt.where(scope)
    return [Choice(i, f"{number} {party or ''}".strip()) for i, number, party in session.execute(stmt)]
