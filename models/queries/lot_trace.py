"""A lot's trace from farmer to shelf: where it came from, every move of its ledger with the document
that made it, where it went (transfers, customers), where it is now, its QC results and its freezes.

Reads need VIEW_STOCK. A member whose roles are bound to sites sees the moves and the stock at those
sites only, and a lot that never touched one of them is refused; another org's lot is not found.
The ledger is paged in time order (50 moves, keyed on business time then move id). QC results and
lifted freezes come from the audit rows ``operations.quality`` writes with them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal

from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session, aliased

from models.actor import Actor, Permission
from models.catalog import Grade, Item
from models.documents import DOC_KIND_LABELS, DocKind, DocStatus, Document
from models.errors import PermissionDenied, ValidationError
from models.infra import AuditEntry
from models.lookup import get_owned
from models.operations.common import STATUS_LABELS
from models.operations.quality import QC_FREEZE_PREFIX
from models.org import Member, Party, Site
from models.queries.stock_availability import LotAvailability, lot_rows
from models.queries.stock_list import QC_LABELS
from models.stock import Freeze, FreezeDirection, Lot, StockMove

PAGE_SIZE = 50
#: Freezes of the lot (and of its whole item) shown on the page, newest first.
FREEZE_LIMIT = 50
QC_LIMIT = 50

DIRECTION_LABELS = {FreezeDirection.INBOUND: "禁止入库", FreezeDirection.OUTBOUND: "禁止出库",
                    FreezeDirection.BOTH: "禁止出入库"}


@dataclass(frozen=True)
class TraceMove:
    move_id: str
    business_time: datetime
    site_id: int
    site_name: str
    #: Signed, in the item's base unit: in positive, out negative.
    quantity: Decimal
    value: Decimal
    document_id: int
    document_number: str
    document_kind: str
    kind_label: str
    status_label: str
    #: The farmer of a receipt, the customer of a shipment.
    party_name: str | None
    #: A reversing move (its document undoes another).
    reversal: bool


@dataclass(frozen=True)
class LotStock:
    site_id: int
    site_name: str
    stock: LotAvailability


@dataclass(frozen=True)
class Destination:
    """Where the lot went: a customer it was shipped to (net of reversals), in base units."""

    party_name: str
    quantity: Decimal


@dataclass(frozen=True)
class QcRecord:
    at: datetime
    by: str | None
    passed: bool
    note: str


@dataclass(frozen=True)
class LotFreeze:
    freeze_id: int
    #: The site it stops, or None: every site.
    site_name: str | None
    #: Freezes the whole item (every lot), not only this lot.
    whole_item: bool
    direction_label: str
    reason: str
    active: bool
    #: A QC freeze lifts only by a passing QC result, never by hand.
    from_qc: bool
    created_at: datetime
    created_by: str | None
    released_at: datetime | None
    released_by: str | None
    release_reason: str | None


@dataclass(frozen=True)
class LotTrace:
    lot_id: int
    lot_code: str
    item_id: int
    item_name: str
    base_unit: str
    grade_name: str | None
    origin_party_id: int | None
    origin_name: str | None
    received_on: date | None
    produced_on: date | None
    expires_on: date | None
    qc_status: str
    qc_label: str
    #: The first page's receipt of the lot (the farmer's delivery), if the actor sees it.
    receipt: TraceMove | None
    moves: tuple[TraceMove, ...]
    #: Cursor of the ledger's next page, or None.
    next_after: str | None
    stock: tuple[LotStock, ...]
    destinations: tuple[Destination, ...]
    qc_records: tuple[QcRecord, ...]
    freezes: tuple[LotFreeze, ...]
    #: Sites where the actor may place a freeze of this lot (where it has stock and the actor sees).
    site_choices: tuple[tuple[int, str], ...]


def parse_after(after: str | None) -> tuple[datetime, uuid.UUID] | None:
    """"<epoch microseconds>_<move uuid hex>" → (time, id); junk is a ValidationError."""
    if after is None or after == "":
        return None
    try:
        micros, move = after.split("_")
        if not (micros.isascii() and micros.isdigit() and len(micros) <= 18):
            raise ValueError(micros)
        moment = datetime.fromtimestamp(int(micros) / 1_000_000, UTC)
        return moment.replace(microsecond=int(micros) % 1_000_000), uuid.UUID(hex=move)
    except (ValueError, OverflowError, OSError):
        raise ValidationError("翻页参数无效，请从第一页重新开始", field="after") from None


def _cursor(move: TraceMove) -> str:
    moment = move.business_time if move.business_time.tzinfo else move.business_time.replace(tzinfo=UTC)
    micros = int(moment.timestamp()) * 1_000_000 + moment.microsecond
    return f"{micros}_{uuid.UUID(move.move_id).hex}"


def lot_trace(session: Session, actor: Actor, lot_id: int, *, after: str | None = None,
              limit: int = PAGE_SIZE) -> LotTrace:
    """The lot's trace as the actor may see it (VIEW_STOCK; another org's lot: NotFound)."""
    cursor = parse_after(after)
    allowed = actor.site_ids(Permission.VIEW_STOCK)
    if allowed is not None and not allowed:
        raise PermissionDenied("没有权限：查看库存", permission=Permission.VIEW_STOCK.value)
    lot = get_owned(session, Lot, lot_id, actor.org_id)
    item = session.get_one(Item, lot.item_id)
    if allowed is not None and session.scalar(select(StockMove.site_id).where(
            StockMove.lot_id == lot.id, StockMove.site_id.in_(allowed)).limit(1)) is None:
        raise PermissionDenied("没有权限：查看该批次（它没有到过您负责的地点）", lot_id=lot.id)
    origin = session.get(Party, lot.origin_party_id) if lot.origin_party_id is not None else None
    grade = session.get(Grade, lot.grade_id) if lot.grade_id is not None else None

    moves = _moves(session, actor, lot, allowed, cursor, limit + 1)
    more = len(moves) > limit
    moves = moves[:limit]
    receipt = next((m for m in moves if m.document_kind == DocKind.RECEIPT.value and m.quantity > 0), None)
    if receipt is None and cursor is not None:
        first = _moves(session, actor, lot, allowed, None, 1)
        receipt = first[0] if first and first[0].document_kind == DocKind.RECEIPT.value else None

    stock_sites = {s.id: s for s in session.scalars(select(Site).where(
        Site.org_id == actor.org_id, *([Site.id.in_(allowed)] if allowed is not None else [])))}
    here = lot_rows(session, actor.org_id, [lot.item_id], list(stock_sites), lot_ids=[lot.id])
    stock = tuple(LotStock(site_id, stock_sites[site_id].name, row)
                  for (site_id, _item), rows in sorted(here.items()) for row in rows)
    return LotTrace(
        lot_id=lot.id, lot_code=lot.code, item_id=item.id, item_name=item.name, base_unit=item.base_unit,
        grade_name=grade.name if grade else None, origin_party_id=lot.origin_party_id,
        origin_name=origin.name if origin else None, received_on=lot.received_on, produced_on=lot.produced_on,
        expires_on=lot.expires_on, qc_status=lot.qc_status.value, qc_label=QC_LABELS[lot.qc_status.value],
        receipt=receipt, moves=tuple(moves), next_after=_cursor(moves[-1]) if more else None, stock=stock,
        destinations=_destinations(session, actor, lot, allowed), qc_records=_qc_records(session, actor, lot),
        freezes=_freezes(session, actor, lot),
        site_choices=tuple((s.site_id, s.site_name) for s in stock if s.stock.on_hand > 0))


def _moves(session: Session, actor: Actor, lot: Lot, allowed: set[int] | None,
           cursor: tuple[datetime, uuid.UUID] | None, limit: int) -> list[TraceMove]:
    """One page of the lot's ledger with each move's document, site and party (one statement)."""
    stmt = (select(StockMove, Document.number, Document.kind, Document.status, Document.reverses_document_id,
                   Site.name, Party.name)
            .join(Document, Document.id == StockMove.document_id)
            .join(Site, Site.id == StockMove.site_id)
            .outerjoin(Party, Party.id == Document.party_id)
            .where(StockMove.org_id == actor.org_id, StockMove.lot_id == lot.id)
            .order_by(StockMove.business_time, StockMove.id).limit(limit))
    if allowed is not None:
        stmt = stmt.where(StockMove.site_id.in_(allowed))
    if cursor is not None:
        stmt = stmt.where(or_(StockMove.business_time > cursor[0],
                              and_(StockMove.business_time == cursor[0], StockMove.id > cursor[1])))
    return [TraceMove(
        move_id=str(move.id), business_time=move.business_time, site_id=move.site_id, site_name=site_name,
        quantity=move.quantity, value=move.value, document_id=move.document_id, document_number=number,
        document_kind=kind.value, kind_label=DOC_KIND_LABELS.get(kind, kind.value),
        status_label=STATUS_LABELS.get(status, status.value), party_name=party_name,
        reversal=reverses is not None or move.reverses_move_id is not None)
        for move, number, kind, status, reverses, site_name, party_name in session.execute(stmt)]


def _destinations(session: Session, actor: Actor, lot: Lot, allowed: set[int] | None) -> tuple[Destination, ...]:
    """Customers the lot was shipped to, net of reversed shipments (one GROUP BY)."""
    stmt = (select(Party.name, -func.sum(StockMove.quantity))
            .join(Document, Document.id == StockMove.document_id).join(Party, Party.id == Document.party_id)
            .where(StockMove.org_id == actor.org_id, StockMove.lot_id == lot.id,
                   Document.kind == DocKind.SHIPMENT, Document.status.in_([DocStatus.POSTED, DocStatus.REVERSED]))
            .group_by(Party.name).order_by(Party.name))
    if allowed is not None:
        stmt = stmt.where(StockMove.site_id.in_(allowed))
    return tuple(Destination(name, Decimal(qty)) for name, qty in session.execute(stmt) if qty)


def _qc_records(session: Session, actor: Actor, lot: Lot) -> tuple[QcRecord, ...]:
    stmt = (select(AuditEntry, Member.name).outerjoin(Member, Member.id == AuditEntry.actor_id)
            .where(AuditEntry.org_id == actor.org_id, AuditEntry.entity == "lot",
                   AuditEntry.entity_id == str(lot.id), AuditEntry.action == "lot.qc")
            .order_by(AuditEntry.id.desc()).limit(QC_LIMIT))
    return tuple(QcRecord(entry.created_at, name or "系统", bool((entry.after or {}).get("passed")), entry.reason)
                 for entry, name in session.execute(stmt))


def _freezes(session: Session, actor: Actor, lot: Lot) -> tuple[LotFreeze, ...]:
    """Freezes of this lot and of its whole item, active first, then newest first."""
    creator, releaser = aliased(Member), aliased(Member)
    stmt = (select(Freeze, Site.name, creator.name, releaser.name)
            .outerjoin(Site, Site.id == Freeze.site_id)
            .outerjoin(creator, creator.id == Freeze.created_by).outerjoin(releaser, releaser.id == Freeze.released_by)
            .where(Freeze.org_id == actor.org_id, Freeze.item_id == lot.item_id,
                   or_(Freeze.lot_id == lot.id, Freeze.lot_id.is_(None)))
            .order_by(Freeze.active.desc(), Freeze.id.desc()).limit(FREEZE_LIMIT))
    found = list(session.execute(stmt))
    lifted = [str(f.id) for f, *_ in found if not f.active]
    reasons: dict[str, str] = {}
    if lifted:
        reasons = {entity_id: reason for entity_id, reason in session.execute(
            select(AuditEntry.entity_id, AuditEntry.reason).where(
                AuditEntry.org_id == actor.org_id, AuditEntry.entity == "freeze",
                AuditEntry.entity_id.in_(lifted), AuditEntry.action == "freeze.lift"))}
    return tuple(LotFreeze(
        freeze_id=f.id, site_name=site_name, whole_item=f.lot_id is None,
        direction_label=DIRECTION_LABELS[f.direction], reason=f.reason, active=f.active,
        from_qc=f.reason.startswith(QC_FREEZE_PREFIX), created_at=f.created_at,
        created_by=made_by or ("系统" if f.created_by is None else None), released_at=f.released_at,
        released_by=lifted_by, release_reason=reasons.get(str(f.id)))
        for f, site_name, made_by, lifted_by in found)
