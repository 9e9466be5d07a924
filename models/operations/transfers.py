"""Transfers between sites: requested → approved → in transit → received (or rejected/cancelled)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.approvals import ApprovalRequest
from models.base import utcnow
from models.catalog import Item
from models.documents import DocKind, DocStatus, Document, DocumentLine
from models.errors import RouteInactive, ValidationError
from models.idempotency import idempotent
from models.infra import OutboxEvent
from models.ledger import (
    append_move,
    ensure_inbound_allowed,
    issue_from,
    lock_balance,
    lock_balances,
    pick_fefo,
)
from models.lookup import get_owned
from models.operations.approvals import ChainRow, chains_read, consult_chain, request_values, steps_from
from models.operations.common import (
    DOC_SEQ_WIDTH,
    STATUS_LABELS,
    business_time_or_now,
    dec,
    document_number,
    document_series,
    item_in,
    quantity_in_base,
    site_in,
    transition,
)
from models.operations.offline_guard import check_offline
from models.org import OfflineKind, Site, SiteKind
from models.outbox import emit
from models.posting import post_voucher
from models.posting_writer import table_of, writer_for
from models.stock import StockMove
from models.unit_of_work import begin, catalog_of


@dataclass(frozen=True)
class TransferLineIn:
    item_id: int
    quantity: Decimal
    unit: str | None = None


@dataclass(frozen=True)
class RequestTransfer:
    from_site_id: int
    to_site_id: int
    lines: tuple[TransferLineIn, ...]
    urgent: bool = False
    reason: str = ""
    business_time: datetime | None = None


@dataclass(frozen=True)
class DecideTransfer:
    document_id: int
    approve: bool
    reason: str = ""


@dataclass(frozen=True)
class TransferRef:
    document_id: int
    reason: str = ""
    business_time: datetime | None = None


@dataclass(frozen=True)
class TransferLineView:
    item_id: int
    item_name: str
    quantity: Decimal
    base_unit: str
    done_quantity: Decimal


@dataclass(frozen=True)
class Transfer:
    document_id: int
    number: str
    status: str
    status_label: str
    from_site_id: int
    to_site_id: int
    urgent: bool
    lines: list[TransferLineView]
    decided_by: int | None
    voucher_number: str | None = None


def transfer_view(session: Session, doc: Document, voucher_number: str | None = None) -> Transfer:
    """Return the result object for a transfer document."""
    items = catalog_of(session, doc.org_id).items  # names and units: no ORM load of the items
    return Transfer(
        document_id=doc.id, number=doc.number, status=doc.status.value, status_label=STATUS_LABELS[doc.status],
        from_site_id=doc.site_id or 0, to_site_id=doc.to_site_id or 0, urgent=doc.urgent,
        lines=[TransferLineView(ln.item_id, items[ln.item_id].name, ln.quantity, items[ln.item_id].base_unit,
                                ln.done_quantity) for ln in doc.lines],
        decided_by=doc.decided_by, voucher_number=voucher_number,
    )


def _transit_site(session: Session, org_id: int, source: Site, dest: Site) -> Site:
    site = session.scalar(select(Site).where(
        Site.org_id == org_id, Site.kind == SiteKind.IN_TRANSIT,
        Site.route_from_id == source.id, Site.route_to_id == dest.id,
    ))
    if site is None:
        site = new_route_site(org_id, source, dest)
        session.add(site)
        session.flush()
    elif not site.active:
        raise route_inactive(source.name, dest.name, site.id)
    return site


def new_route_site(org_id: int, source: Site, dest: Site) -> Site:
    """The in-transit site that stands for the route ``source`` → ``dest`` (declared, or made by a first transfer)."""
    return Site(org_id=org_id, code=f"ZT-{source.code}-{dest.code}", name=f"在途 {source.name}→{dest.name}",
                kind=SiteKind.IN_TRANSIT, route_from_id=source.id, route_to_id=dest.id)


def route_inactive(source_name: str, dest_name: str, route_id: int) -> RouteInactive:
    """The refusal of a transfer along a deactivated route: the same words at request and dispatch."""
    return RouteInactive(f"调拨路线 {source_name}→{dest_name} 已停用，不能新发调拨；请在设置中重新启用",
                         route_id=route_id)


def _load(session: Session, actor: Actor, document_id: int) -> Document:
    doc = get_owned(session, Document, document_id, actor.org_id, lock=True)
    if doc.kind != DocKind.TRANSFER:
        raise ValidationError(f"{doc.number} 不是调拨单", field="document_id")
    return doc


_documents, _lines, _requests = table_of(Document), table_of(DocumentLine), table_of(ApprovalRequest)
_events = table_of(OutboxEvent)
_NEW_ID_TABLES = (_documents, _requests)


@idempotent("transfer.request")
def request_transfer(session: Session, actor: Actor, cmd: RequestTransfer) -> Transfer:
    """Request a transfer and open its approval (urgent ones on the emergency chain) in the same
    transaction. A lean posting: the chains and the new ids are read with the config version, the
    rows (document, lines, approval request, both events) go out on the posting writer."""
    writer = writer_for(session)
    uow, (chains, ids) = begin(session, actor, [chains_read(actor.org_id, "transfer"),
                                                writer.ids_read(_NEW_ID_TABLES)])
    catalog = uow.catalog
    source = site_in(catalog, cmd.from_site_id)
    dest = site_in(catalog, cmd.to_site_id)
    if source.id == dest.id:
        raise ValidationError("调出和调入地点不能相同", field="to_site_id")
    route = next((s for s in catalog.sites.values() if s.kind == SiteKind.IN_TRANSIT
                  and s.route_from_id == source.id and s.route_to_id == dest.id), None)
    if route is not None and not route.active:
        raise route_inactive(source.name, dest.name, route.id)
    if not (actor.can(Permission.TRANSFER_REQUEST, source.id) or actor.can(Permission.TRANSFER_REQUEST, dest.id)):
        actor.require(Permission.TRANSFER_REQUEST, dest.id)
    if not cmd.lines:
        raise ValidationError("调拨单至少要有一行", field="lines")
    when = business_time_or_now(session, actor, cmd.business_time)
    lines = []
    for line in cmd.lines:
        item = item_in(catalog, line.item_id)
        lines.append((item, quantity_in_base(item, line.quantity, line.unit), line))
    document_id, request_id = (int(v) for v in ids[0])
    series, day = document_series(DocKind.TRANSFER, source, when)
    number = document_number(series, day, writer.numbers(actor.org_id, [(series, day, DOC_SEQ_WIDTH)])[0])
    writer.insert(_documents, id=document_id, org_id=actor.org_id, kind=DocKind.TRANSFER, number=number,
                  status=DocStatus.REQUESTED, business_time=when, site_id=source.id, to_site_id=dest.id,
                  urgent=cmd.urgent, note=cmd.reason, created_by=actor.member_id)
    for n, (item, qty, line) in enumerate(lines, start=1):
        writer.insert(_lines, org_id=actor.org_id, document_id=document_id, line_no=n, item_id=item.id,
                      quantity=qty, entered_quantity=line.quantity, entered_unit=line.unit or item.base_unit)
    writer.insert(_events, org_id=actor.org_id, kind="transfer.requested", document_id=document_id, payload={
        "document_id": document_id, "number": number, "from_site_id": source.id, "to_site_id": dest.id,
        "urgent": cmd.urgent, "requested_by": actor.member_id,
    })
    # Chains are chosen by quantity (min_value); the request exists before anyone can decide.
    total = sum((qty for _item, qty, _line in lines), Decimal(0))
    chain_id, steps = steps_from([ChainRow(*row) for row in chains], "transfer", total, cmd.urgent)
    writer.insert(_requests, id=request_id, **request_values(actor.org_id, "transfer", document_id, chain_id, steps))
    writer.insert(_events, org_id=actor.org_id, kind="approval.opened", document_id=document_id, payload={
        "request_id": request_id, "doc_kind": "transfer", "document_id": document_id, "step": 0,
        "urgent": cmd.urgent})
    return Transfer(
        document_id=document_id, number=number, status=DocStatus.REQUESTED.value,
        status_label=STATUS_LABELS[DocStatus.REQUESTED], from_site_id=source.id, to_site_id=dest.id,
        urgent=cmd.urgent, lines=[TransferLineView(item.id, item.name, qty, item.base_unit, Decimal(0))
                                  for item, qty, _line in lines],
        decided_by=None)


@idempotent("transfer.decide")
def decide_transfer(session: Session, actor: Actor, cmd: DecideTransfer) -> Transfer:
    """Approve or reject a requested transfer; the first decision wins."""
    doc = _load(session, actor, cmd.document_id)
    approve = Permission.TRANSFER_APPROVE
    if not (actor.can(approve, doc.site_id) or actor.can(approve, doc.to_site_id)):
        actor.require(Permission.TRANSFER_APPROVE, doc.site_id)
    if not cmd.approve and not cmd.reason.strip():
        raise ValidationError("驳回须说明原因", field="reason")
    # The chain refuses a missing request, the requester deciding, and the wrong level's role.
    if not consult_chain(session, actor, "transfer", doc.id, cmd.approve, cmd.reason):
        return transfer_view(session, doc)  # approved at this level; the chain's next level decides
    transition(doc, DocStatus.APPROVED if cmd.approve else DocStatus.REJECTED)
    doc.decided_by, doc.decided_at = actor.member_id, utcnow()
    if cmd.reason:
        doc.note = f"{doc.note}\n{'批准' if cmd.approve else '驳回'}：{cmd.reason}".strip()
    emit(session, actor.org_id, "transfer.approved" if cmd.approve else "transfer.rejected", {
        "document_id": doc.id, "number": doc.number, "decided_by": actor.member_id, "reason": cmd.reason,
    }, document_id=doc.id)
    return transfer_view(session, doc)


@idempotent("transfer.cancel")
def cancel_transfer(session: Session, actor: Actor, cmd: TransferRef) -> Transfer:
    """Cancel a transfer that has not left yet (requester or approver)."""
    doc = _load(session, actor, cmd.document_id)
    if doc.created_by != actor.member_id:
        actor.require(Permission.TRANSFER_APPROVE, doc.site_id)
    transition(doc, DocStatus.CANCELLED)
    emit(session, actor.org_id, "transfer.cancelled", {"document_id": doc.id, "number": doc.number,
                                                       "reason": cmd.reason}, document_id=doc.id)
    return transfer_view(session, doc)


@idempotent("transfer.dispatch")
def dispatch_transfer(session: Session, actor: Actor, cmd: TransferRef) -> Transfer:
    """Move approved quantities from the source into the route's in-transit site."""
    doc = _load(session, actor, cmd.document_id)
    source = get_owned(session, Site, doc.site_id, actor.org_id)
    dest = get_owned(session, Site, doc.to_site_id, actor.org_id)
    actor.require(Permission.TRANSFER_DISPATCH, source.id)
    check_offline(session, source.id, OfflineKind.TRANSFER_OUT)
    transition(doc, DocStatus.IN_TRANSIT)
    when = business_time_or_now(session, actor, cmd.business_time)
    transit = _transit_site(session, actor.org_id, source, dest)
    doc.transit_site_id = transit.id
    cost = Decimal(0)
    for line in sorted(doc.lines, key=lambda ln: ln.item_id):  # fixed lock order
        item = session.get_one(Item, line.item_id)
        balances = lock_balances(session, item.id, source.id)
        picks = pick_fefo(session, item, source, balances, line.quantity)
        for move in issue_from(session, picks, balances, document=doc, business_time=when):
            incoming = lock_balance(session, actor.org_id, item.id, transit.id, move.lot_id)
            append_move(session, incoming, quantity=-move.quantity, unit_cost=move.unit_cost, value=-move.value,
                        document=doc, business_time=when)
            cost -= move.value
        line.done_quantity = line.quantity
    voucher = _post(session, doc, "transfer.dispatched", cost, when, source, dest)
    emit(session, actor.org_id, "transfer.dispatched", {"document_id": doc.id, "number": doc.number,
                                                        "cost": dec(cost)}, document_id=doc.id)
    return transfer_view(session, doc, voucher)


@idempotent("transfer.receive")
def receive_transfer(session: Session, actor: Actor, cmd: TransferRef) -> Transfer:
    """Move everything in transit for this transfer into the destination site."""
    doc = _load(session, actor, cmd.document_id)
    dest = get_owned(session, Site, doc.to_site_id, actor.org_id)
    source = get_owned(session, Site, doc.site_id, actor.org_id)
    actor.require(Permission.TRANSFER_RECEIVE, dest.id)
    transition(doc, DocStatus.RECEIVED)
    when = business_time_or_now(session, actor, cmd.business_time)
    in_transit = list(session.scalars(select(StockMove).where(
        StockMove.document_id == doc.id, StockMove.site_id == doc.transit_site_id, StockMove.quantity > 0,
    ).order_by(StockMove.item_id, StockMove.lot_id)))
    cost = Decimal(0)
    for move in in_transit:
        item = session.get_one(Item, move.item_id)
        ensure_inbound_allowed(session, item, dest, move.lot_id)
        out = lock_balance(session, actor.org_id, move.item_id, move.site_id, move.lot_id)
        into = lock_balance(session, actor.org_id, move.item_id, dest.id, move.lot_id)
        append_move(session, out, quantity=-move.quantity, unit_cost=move.unit_cost, value=-move.value,
                    document=doc, business_time=when)
        append_move(session, into, quantity=move.quantity, unit_cost=move.unit_cost, value=move.value,
                    document=doc, business_time=when)
        cost += move.value
    voucher = _post(session, doc, "transfer.received", cost, when, source, dest)
    emit(session, actor.org_id, "transfer.received", {"document_id": doc.id, "number": doc.number,
                                                      "cost": dec(cost)}, document_id=doc.id)
    return transfer_view(session, doc, voucher)


def _post(session: Session, doc: Document, event: str, cost: Decimal, when: datetime,
          source: Site, dest: Site) -> str | None:
    if not cost:
        return None
    voucher = post_voucher(
        session, doc, event, facts={"from_site_kind": source.kind.value, "to_site_kind": dest.kind.value},
        amounts={"cost": cost}, when=when, summary=f"{doc.number} {source.name}→{dest.name}",
    )
    return voucher.number
