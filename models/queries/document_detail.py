"""One document with everything behind it: lines, stock moves, vouchers, photos, approval, trail.

The query behind the console's document page and the API's ``GET /documents/<id>``. Scoped to the
actor's organisation (another org's id is NotFound, never a hint) and to what the actor may see
(``document_list.may_see``: the same rule as the list). Vouchers are the books: they are shown to
members who may see finance (查看财务); others see that a voucher exists, not its lines.
A fixed number of statements whatever the document's size (no query per line). Writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.approvals import ApprovalRequest, ApprovalStatus
from models.catalog import Item
from models.documents import DOC_KIND_LABELS, DocStatus, Document, DocumentLine
from models.errors import NotFound
from models.finance import Voucher
from models.infra import AuditEntry, OutboxEvent
from models.intake import EvidencePhoto
from models.operations.common import STATUS_LABELS
from models.operations.reversal import REVERSIBLE
from models.org import ROLE_LABELS, Member, Party, Site
from models.queries.document_list import may_see
from models.queries.print_documents import PrintedVoucher, voucher_document
from models.stock import Lot, StockMove
from models.unit_of_work import catalog_of

APPROVAL_LABELS = {ApprovalStatus.PENDING.value: "审批中", ApprovalStatus.APPROVED.value: "已同意",
                   ApprovalStatus.REJECTED.value: "已驳回"}
#: What each recorded event means, in words (an event not listed reads as 系统记录).
EVENT_LABELS = {
    "receipt.posted": "入库过账", "receipt.drafted": "入库待复核", "shipment.posted": "出库过账",
    "count.posted": "盘点过账", "transfer.requested": "申请调拨", "transfer.approved": "调拨已批准",
    "transfer.rejected": "调拨被驳回", "transfer.dispatched": "调拨已发货", "transfer.received": "调拨已收货",
    "transfer.cancelled": "调拨已取消", "purchase_order.confirmed": "采购订单已确认",
    "sales_order.confirmed": "销售订单已确认", "purchase_order.cancelled": "采购订单已取消",
    "sales_order.cancelled": "销售订单已取消", "approval.opened": "提交审批", "approval.decided": "审批决定",
    "document.reversed": "冲销", "document.evidence_attached": "附上照片", "settlement.paid": "付款",
    "order_charge.added": "登记费用", "order_charge.reversed": "冲销费用",
    "document.invoice_number": "登记发票号码", "receipt.confirm_draft": "复核通过入库",
    "receipt.cancel_draft": "复核取消入库", "delivery_note.revoke_links": "收回交货单链接",
    "opening.posted": "期初入库过账", "opening_stock.posted": "登记期初库存",
}
MAX_TRAIL = 200


@dataclass(frozen=True)
class DetailLine:
    line_no: int
    item_id: int
    item_name: str
    base_unit: str
    quantity: Decimal
    entered_quantity: Decimal | None
    entered_unit: str | None
    lot_code: str | None
    grade: str | None
    unit_price: Decimal
    amount: Decimal
    done_quantity: Decimal
    expected_quantity: Decimal | None


@dataclass(frozen=True)
class DetailMove:
    site_name: str
    item_name: str
    base_unit: str
    lot_code: str
    quantity: Decimal
    unit_cost: Decimal
    value: Decimal
    business_time: datetime


@dataclass(frozen=True)
class DetailPhoto:
    id: int
    width: int
    height: int
    created_at: datetime


@dataclass(frozen=True)
class ApprovalStep:
    level: int
    role_label: str
    #: 已同意 / 已驳回 / 待审批 / 未到
    state: str
    decided_by: str | None
    reason: str
    decided_at: str | None


@dataclass(frozen=True)
class ApprovalView:
    request_id: int
    status: str
    status_label: str
    steps: list[ApprovalStep]


@dataclass(frozen=True)
class TrailEntry:
    at: datetime
    what: str
    who: str | None
    reason: str


@dataclass(frozen=True)
class DocumentLink:
    id: int
    number: str
    kind_label: str


@dataclass(frozen=True)
class DocumentDetail:
    id: int
    number: str
    kind: str
    kind_label: str
    status: str
    status_label: str
    business_time: datetime
    created_at: datetime
    site_name: str | None
    to_site_name: str | None
    party_name: str | None
    created_by: str | None
    decided_by: str | None
    note: str
    urgent: bool
    total_amount: Decimal
    tax_amount: Decimal
    invoice_number: str | None
    lines: list[DetailLine]
    moves: list[DetailMove]
    vouchers: list[PrintedVoucher]
    #: Voucher numbers, for a member who may not see their lines.
    voucher_numbers: list[str]
    vouchers_visible: bool
    photos: list[DetailPhoto]
    approval: ApprovalView | None
    trail: list[TrailEntry]
    source: DocumentLink | None
    reverses: DocumentLink | None
    reversed_by: list[DocumentLink]
    #: Whether 冲销 applies to it now (the operation decides again, with the permission).
    reversible: bool


def _link(doc: Any) -> DocumentLink | None:
    return DocumentLink(doc.id, doc.number, DOC_KIND_LABELS[doc.kind]) if doc is not None else None


def visible_document(session: Session, actor: Actor, document_id: int) -> Document:
    """The org's document if the actor may see it; NotFound otherwise (no hint that it exists)."""
    doc = session.get(Document, document_id)
    if doc is None or not may_see(actor, doc):
        raise NotFound("找不到该单据", entity="Document", id=document_id)
    return doc


def document_detail(session: Session, actor: Actor, document_id: int) -> DocumentDetail:
    """The document, its lines, moves, vouchers, photos, approval and trail."""
    doc = visible_document(session, actor, document_id)
    org = actor.org_id
    names = _names(session, org, doc)
    lines = _lines(session, org, doc)
    moves = [DetailMove(site, item, unit, lot, qty, cost, value, when) for site, item, unit, lot, qty, cost, value, when
             in session.execute(
                 select(Site.name, Item.name, Item.base_unit, Lot.code, StockMove.quantity, StockMove.unit_cost,
                        StockMove.value, StockMove.business_time)
                 .join(Site, Site.id == StockMove.site_id).join(Item, Item.id == StockMove.item_id)
                 .join(Lot, Lot.id == StockMove.lot_id)
                 .where(StockMove.document_id == doc.id)  # the org's document (checked): its moves are the org's
                 .order_by(StockMove.recorded_at, Item.name, Site.name)).all()]
    voucher_rows = session.execute(select(Voucher.id, Voucher.number).where(Voucher.document_id == doc.id)
                                   .order_by(Voucher.id)).all()
    finance = actor.can(Permission.VIEW_FINANCE)
    vouchers = [voucher_document(session, org, vid) for vid, _n in voucher_rows] if finance else []
    photos = [DetailPhoto(p.id, p.width, p.height, p.created_at) for p in session.scalars(
        select(EvidencePhoto).where(EvidencePhoto.document_id == doc.id)
        .order_by(EvidencePhoto.position, EvidencePhoto.id))]
    # Two indexed lookups (an OR across them would scan the documents), columns only (no lines).
    linked_ids = [i for i in (doc.source_document_id, doc.reverses_document_id) if i is not None]
    columns = select(Document.id, Document.number, Document.kind, Document.reverses_document_id,
                     Document.created_at, Document.created_by, Document.note)
    related = list(session.execute(columns.where(Document.reverses_document_id == doc.id)))
    if linked_ids:
        related += list(session.execute(columns.where(Document.org_id == org, Document.id.in_(linked_ids))))
    by_id = {d.id: d for d in related}
    reversals = [d for d in related if d.reverses_document_id == doc.id]
    return DocumentDetail(
        id=doc.id, number=doc.number, kind=doc.kind.value, kind_label=DOC_KIND_LABELS[doc.kind],
        status=doc.status.value,
        status_label=STATUS_LABELS[doc.status], business_time=doc.business_time, created_at=doc.created_at,
        site_name=names["site"], to_site_name=names["to_site"], party_name=names["party"],
        created_by=names["created_by"], decided_by=names["decided_by"], note=doc.note or "", urgent=doc.urgent,
        total_amount=doc.total_amount, tax_amount=doc.tax_amount, invoice_number=doc.invoice_number,
        lines=lines, moves=moves, vouchers=vouchers, voucher_numbers=[n for _i, n in voucher_rows],
        vouchers_visible=finance, photos=photos, approval=_approval(session, org, doc),
        trail=_trail(session, org, doc, reversals), source=_link(by_id.get(doc.source_document_id or 0)),
        reverses=_link(by_id.get(doc.reverses_document_id or 0)),
        reversed_by=[link for d in reversals if (link := _link(d))],
        reversible=(doc.kind in REVERSIBLE and doc.status == DocStatus.POSTED and doc.reverses_document_id is None))


def _names(session: Session, org: int, doc: Document) -> dict[str, str | None]:
    site_ids = [i for i in (doc.site_id, doc.to_site_id) if i is not None]
    sites = dict(session.execute(select(Site.id, Site.name).where(Site.org_id == org, Site.id.in_(site_ids))).all()) \
        if site_ids else {}
    member_ids = [i for i in (doc.created_by, doc.decided_by) if i is not None]
    members = dict(session.execute(select(Member.id, Member.name).where(
        Member.org_id == org, Member.id.in_(member_ids))).all()) if member_ids else {}
    party = session.scalar(select(Party.name).where(Party.org_id == org, Party.id == doc.party_id)) \
        if doc.party_id else None
    return {"site": sites.get(doc.site_id or 0), "to_site": sites.get(doc.to_site_id or 0), "party": party,
            "created_by": members.get(doc.created_by or 0), "decided_by": members.get(doc.decided_by or 0)}


def _lines(session: Session, org: int, doc: Document) -> list[DetailLine]:
    # Names from the catalog snapshot and one lot lookup: a join from the lines to the (tiny) items
    # table lets SQLite drive the join from items and scan every line of the org.
    # By document only: the document is the org's (checked above), so are its lines; an org_id term
    # would let SQLite (without statistics) pick the org index and scan every line of the org.
    lines = list(session.scalars(select(DocumentLine).where(DocumentLine.document_id == doc.id)
                                 .order_by(DocumentLine.line_no)))
    catalog = catalog_of(session, org)
    lot_ids = {ln.lot_id for ln in lines if ln.lot_id is not None}
    lots = dict(session.execute(select(Lot.id, Lot.code).where(Lot.org_id == org, Lot.id.in_(lot_ids))).all()) \
        if lot_ids else {}
    out = []
    for ln in lines:
        item = catalog.items.get(ln.item_id)
        grade = catalog.grades.get(ln.grade_id) if ln.grade_id is not None else None
        out.append(DetailLine(ln.line_no, ln.item_id, item.name if item else "", item.base_unit if item else "",
                              ln.quantity, ln.entered_quantity, ln.entered_unit, lots.get(ln.lot_id or 0),
                              grade.name if grade else None, ln.unit_price, ln.amount, ln.done_quantity,
                              ln.expected_quantity))
    return out


def _approval(session: Session, org: int, doc: Document) -> ApprovalView | None:
    req = session.scalar(select(ApprovalRequest).where(ApprovalRequest.document_id == doc.id)
                         .order_by(ApprovalRequest.id.desc()).limit(1))
    if req is None:
        return None
    decided = {int(h.get("step", -1)): h for h in (req.history or []) if isinstance(h, dict)}
    steps = []
    for level, step in enumerate(req.steps or []):
        role = str(step.get("role", "")) if isinstance(step, dict) else ""
        entry = decided.get(level)
        if entry is not None:
            state = "已同意" if entry.get("approve") else "已驳回"
        elif req.status == ApprovalStatus.PENDING and level == req.step:
            state = "待审批"
        else:
            state = "未到" if req.status == ApprovalStatus.PENDING else "无需审批"
        steps.append(ApprovalStep(level + 1, ROLE_LABELS.get(role, role), state,
                                  str(entry.get("name")) if entry else None, str(entry.get("reason") or "") if entry
                                  else "", str(entry.get("at")) if entry else None))
    return ApprovalView(req.id, req.status.value, APPROVAL_LABELS[req.status.value], steps)


def _trail(session: Session, org: int, doc: Document, reversals: list[Any]) -> list[TrailEntry]:
    """Every recorded event of the document, every audited change to it and its reversal, oldest first.

    The reversal's event belongs to the reversing document, so the original's trail names it here."""
    entries: list[TrailEntry] = []
    members: dict[int, str] = {}
    events: list[Any] = list(session.execute(
        select(OutboxEvent.kind, OutboxEvent.created_at, OutboxEvent.payload)
        .where(OutboxEvent.document_id == doc.id)
        .order_by(OutboxEvent.created_at).limit(MAX_TRAIL)).all())
    audits = list(session.scalars(select(AuditEntry).where(
        AuditEntry.org_id == org, AuditEntry.entity.in_(("document", "Document")),
        AuditEntry.entity_id == str(doc.id)).order_by(AuditEntry.id).limit(MAX_TRAIL)))
    who_ids = {a.actor_id for a in audits if a.actor_id} | {r.created_by for r in reversals if r.created_by} | {
        int(p[k]) for _k, _t, p in events if isinstance(p, dict)
        for k in ("requested_by", "decided_by", "member_id") if isinstance(p.get(k), int)}
    if who_ids:
        members = dict(session.execute(select(Member.id, Member.name).where(
            Member.org_id == org, Member.id.in_(who_ids))).all())
    for kind, at, payload in events:
        data: dict[str, Any] = payload if isinstance(payload, dict) else {}
        who_id = next((data[k] for k in ("requested_by", "decided_by", "member_id") if isinstance(data.get(k), int)),
                      None)
        if kind == "document.reversed" and data.get("document_id") != doc.id:
            what = f"冲销原单 {data.get('number', '')}"
        else:
            what = EVENT_LABELS.get(kind, "系统记录")
        entries.append(TrailEntry(at, what, members.get(who_id) if who_id else None, str(data.get("reason") or "")))
    for a in audits:
        entries.append(TrailEntry(a.created_at, EVENT_LABELS.get(a.action, "修改记录"),
                                  members.get(a.actor_id or 0), a.reason or ""))
    for r in reversals:
        entries.append(TrailEntry(r.created_at, f"被冲销（冲销单 {r.number}）", members.get(r.created_by or 0),
                                  r.note.split("：", 1)[-1] if r.note else ""))
    entries.sort(key=lambda e: e.at)
    return entries


def photo_key(session: Session, actor: Actor, photo_id: int, *, thumb: bool) -> str:
    """The storage key of a document's evidence photo the actor may see (NotFound otherwise)."""
    photo = session.scalar(select(EvidencePhoto).where(EvidencePhoto.org_id == actor.org_id,
                                                       EvidencePhoto.id == photo_id,
                                                       EvidencePhoto.document_id.is_not(None)))
    if photo is None or photo.document_id is None:
        raise NotFound("找不到该照片", entity="EvidencePhoto", id=photo_id)
    visible_document(session, actor, photo.document_id)  # the photo is seen with its document, or not at all
    return photo.thumb_key if thumb else photo.image_key

