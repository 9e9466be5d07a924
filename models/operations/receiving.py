"""Receive goods: a farmer's delivery (with prepayment owed) or a supplier's against a PO.

Rules that protect money live here, whatever the channel: a price other than the grade's or the
order's needs the price permission, a reason and leaves an audit row; a receipt above the item's
plausibility limit is only a draft until a second person confirms it; goods never join a lot that
already has a QC result; a purchase order still awaiting approval receives nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from models import group_commit, node
from models.actor import Actor, Permission
from models.approvals import ApprovalStatus
from models.audit import AuditEntry, audit_values, record_audit
from models.base import utcnow
from models.catalog import Grade, Item
from models.catalog_snapshot import CatalogSnapshot, GradeInfo, ItemInfo, PartyInfo, SiteInfo
from models.documents import DocKind, DocStatus, Document, DocumentLine
from models.errors import (
    InvalidState,
    LotAlreadyChecked,
    PriceOverrideDenied,
    PurchaseOrderNotApproved,
    SecondPersonRequired,
    ValidationError,
)
from models.finance import FarmerSettlement, SettlementStatus, Voucher
from models.idempotency import idempotent
from models.infra import OutboxEvent
from models.ledger import COST_QUANTUM, FreezeRow, blocking_freeze, freezes_read, inbound_frozen, money
from models.lookup import get_owned, not_found
from models.operations.approvals import approval_status
from models.operations.common import (
    DOC_SEQ_WIDTH,
    dec,
    document_number,
    document_series,
    item_in,
    open_document,
    party_in,
    quantity_in_base,
    review_limit_of,
    site_in,
    time_in_window,
    transition,
    window_of,
)
from models.operations.offline_guard import check_offline
from models.org import OfflineKind, PartyKind
from models.outbox import emit
from models.posting import VOUCHER_SEQ_WIDTH, ensure_open, queue_voucher
from models.posting_writer import Read, table_of, writer_for
from models.stock import Balance, Lot, QcStatus, StockMove
from models.subledger import payable_of
from models.timeutil import local_date, period_of
from models.unit_of_work import UnitOfWork, begin
from models.vat import check_invoice_number, check_party_rate, line_tax, resolve_rate

_documents, _lines, _lots = table_of(Document), table_of(DocumentLine), table_of(Lot)
_moves, _vouchers = table_of(StockMove), table_of(Voucher)
_settlements, _events, _audit = table_of(FarmerSettlement), table_of(OutboxEvent), table_of(AuditEntry)
_NEW_ID_TABLES = (_documents, _lots, _vouchers)


@dataclass(frozen=True)
class ReceiveGoods:
    site_id: int
    item_id: int
    quantity: Decimal
    #: As entered (斤, 箱 …); None means the item's base unit.
    unit: str | None = None
    party_id: int | None = None
    grade_id: int | None = None
    #: Per base unit. Default: the grade's purchase price, or the purchase order's price. Any other
    #: price needs Permission.PRICES and ``price_reason``.
    unit_price: Decimal | None = None
    purchase_order_id: int | None = None
    lot_code: str | None = None
    produced_on: date | None = None
    expires_on: date | None = None
    #: VAT rate of this receipt; None: the supplier's, else the item's, else the org's default
    #: (models.vat; a farmer selling own produce is exempt).
    tax_rate: Decimal | None = None
    business_time: datetime | None = None
    #: Client-minted move id (offline phones, edge boxes): the ledger merges by it.
    move_id: uuid.UUID | None = None
    origin_node: str = "server"
    note: str = ""
    #: Why the price differs from the grade's or order's (kept in the audit row).
    price_reason: str = ""
    #: 发票号码 of the supplier's VAT invoice, if it came with the goods.
    invoice_number: str | None = None


@dataclass(frozen=True)
class ConfirmDraftReceipt:
    document_id: int


@dataclass(frozen=True)
class CancelDraftReceipt:
    document_id: int
    reason: str


@dataclass(frozen=True)
class Receipt:
    document_id: int
    number: str
    site_id: int
    item_id: int
    #: None while the receipt is a draft (the lot is made when it posts).
    lot_id: int | None
    lot_code: str | None
    quantity: Decimal
    base_unit: str
    entered_quantity: Decimal
    entered_unit: str
    grade: str | None
    unit_price: Decimal
    amount: Decimal
    tax: Decimal
    total: Decimal
    prepayment: Decimal
    balance_after_qc: Decimal
    voucher_number: str | None
    party_id: int | None
    business_time: datetime
    #: "posted", or "draft" when the quantity is above the plausibility limit (a second person confirms).
    status: str = DocStatus.POSTED.value


@dataclass(frozen=True)
class _LotFact:
    id: int
    code: str
    qc_status: QcStatus


@dataclass(frozen=True)
class _Facts:
    """What a receipt reads besides the catalog: freezes, and the lot named by its code (if any)."""

    freezes: tuple[FreezeRow, ...]
    lot: _LotFact | None
    #: Ids for the rows a posting may create (document, lot, voucher), allocated with the reads.
    new_ids: Mapping[str, int] = field(default_factory=dict)


_bp = bindparam
_ID_TYPE = Lot.__table__.c.id.type
_READ_LOT = Read("receipt.lot", lambda: select(Lot.id, Lot.code, Lot.qc_status).where(
    Lot.org_id == _bp("org_id"), Lot.item_id == _bp("item_id"), Lot.code == _bp("code")), {}, {})
# The balance an existing lot's goods join is locked before the posting takes its number counters:
# a posting never holds a counter while it waits for a balance (models.posting_writer.numbers).
_LOCK_LOT_BALANCE = Read("receipt.lot_balance", lambda: select(Balance.id).where(
    Balance.item_id == _bp("item_id"), Balance.site_id == _bp("site_id"),
    Balance.lot_id == select(Lot.id).where(Lot.org_id == _bp("org_id"), Lot.item_id == _bp("item_id"),
                                           Lot.code == _bp("code")).scalar_subquery(),
).with_for_update(), {}, {})


def _reads(session: Session, actor: Actor, cmd: ReceiveGoods) -> list[Read]:
    """What a receipt reads up front: the freezes, a named lot (its balance locked), new ids."""
    where = {"item_id": cmd.item_id, "site_id": cmd.site_id}
    reads = [freezes_read(cmd.item_id, cmd.site_id)]
    if cmd.lot_code:
        named = {**where, "org_id": actor.org_id, "code": cmd.lot_code}
        reads.append(Read(_READ_LOT.key, _READ_LOT.build, named, {}))
        reads.append(Read(_LOCK_LOT_BALANCE.key, _LOCK_LOT_BALANCE.build, named, {}))
    reads.append(writer_for(session).ids_read(_NEW_ID_TABLES))
    return reads


def _start(session: Session, actor: Actor, cmd: ReceiveGoods) -> tuple[UnitOfWork, _Facts]:
    """The unit of work and the receipt's facts, read together (one round trip on PostgreSQL)."""
    reads = _reads(session, actor, cmd)
    uow, results = begin(session, actor, reads)
    freezes = tuple(FreezeRow(*row) for row in results[0])
    lot = _LotFact(*results[1][0]) if cmd.lot_code and results[1] else None
    new_ids = dict(zip((t.name for t in _NEW_ID_TABLES), (int(v) for v in results[-1][0]), strict=True))
    return uow, _Facts(freezes=freezes, lot=lot, new_ids=new_ids)


@dataclass
class _Plan:
    """A receipt checked and priced, not yet written."""

    cmd: ReceiveGoods
    site: SiteInfo
    item: ItemInfo
    quantity: Decimal
    when: datetime
    party: PartyInfo | None
    order: Document | None
    order_line: DocumentLine | None
    grade: GradeInfo | None
    price: Decimal
    reference_price: Decimal
    goods: Decimal
    rate: Decimal
    tax: Decimal
    total: Decimal
    facts: _Facts
    invoice_number: str | None = None


def _resolve_grade(catalog: CatalogSnapshot, cmd: ReceiveGoods, item: ItemInfo,
                   party: PartyInfo | None) -> GradeInfo | None:
    grade = None
    if cmd.grade_id is not None:
        grade = catalog.grades.get(cmd.grade_id)
        if grade is None:
            raise not_found("Grade", cmd.grade_id)
        if grade.item_id != item.id:
            raise ValidationError("该商品没有这个等级", field="grade_id", grade_id=cmd.grade_id)
    elif party is not None and party.kind == PartyKind.FARMER and item.grade_ids and cmd.unit_price is None:
        raise ValidationError("请选择等级", field="grade_id")
    if cmd.unit_price is not None and cmd.unit_price < 0:
        raise ValidationError("单价不能为负", field="unit_price")
    return grade


def _authorize_price(actor: Actor, cmd: ReceiveGoods, site_id: int, reference: Decimal) -> None:
    """A price other than the reference (grade, order, or none: 0) is a price decision, not data entry."""
    if cmd.unit_price is None or cmd.unit_price == reference:
        return
    if not actor.can(Permission.PRICES, site_id):
        raise PriceOverrideDenied(
            f"没有改价权限：单价应为 {dec(reference)}，改价须由有改价权限的人录入并写明原因",
            field="unit_price", unit_price=dec(cmd.unit_price), reference_price=dec(reference))
    if not actor.system and not cmd.price_reason.strip():
        raise PriceOverrideDenied("改价须写明原因", field="price_reason", unit_price=dec(cmd.unit_price),
                                  reference_price=dec(reference))


def _check_dates(cmd: ReceiveGoods, when: datetime) -> None:
    if cmd.produced_on is not None and cmd.produced_on > local_date(when):
        raise ValidationError("生产日期不能晚于收货日期", field="produced_on")
    if cmd.produced_on is not None and cmd.expires_on is not None and cmd.expires_on < cmd.produced_on:
        raise ValidationError("到期日期不能早于生产日期", field="expires_on")


def _plan(uow: UnitOfWork, actor: Actor, cmd: ReceiveGoods, facts: _Facts, *, confirming: bool = False) -> _Plan:
    """Check and price a receipt over the catalog snapshot and the facts read; write nothing.
    ``confirming``: a stored draft whose price and time were authorized when it was entered."""
    catalog = uow.catalog
    site = site_in(catalog, cmd.site_id)
    actor.require(Permission.RECEIVE, site.id)
    item = item_in(catalog, cmd.item_id)
    quantity = quantity_in_base(item, cmd.quantity, cmd.unit)
    if cmd.business_time is None:
        when = utcnow()
    elif confirming:
        when = cmd.business_time
    else:
        when = time_in_window(cmd.business_time, window_of(catalog.org.settings),
                              may_backdate=actor.can(Permission.BACKDATE))
    _check_dates(cmd, when)
    party = party_in(catalog, cmd.party_id)
    if party is not None and party.kind == PartyKind.CUSTOMER:
        raise ValidationError(f"{party.name} 是客户，不能作为供货方", field="party_id")

    order, order_line = _order_line(uow.session, actor, cmd, item.id, party)
    if party is None and order is not None and order.party_id is not None:
        party = catalog.parties[order.party_id]  # the payable is owed to the order's supplier
    grade = _resolve_grade(catalog, cmd, item, party)
    if grade is not None:
        reference = grade.purchase_price
    elif order_line is not None:
        reference = order_line.unit_price
    else:
        reference = Decimal(0)
    if not confirming:
        _authorize_price(actor, cmd, site.id, reference)
    price = cmd.unit_price if cmd.unit_price is not None else reference
    rate = resolve_rate(cmd.tax_rate, party.vat_rate if party else None, party.kind if party else None,
                        item.vat_rate, catalog.org.settings)
    check_party_rate(party.kind if party else None, rate, field="tax_rate")
    invoice_number = check_invoice_number(cmd.invoice_number)
    freeze = blocking_freeze(facts.freezes, None, outbound=False)
    if freeze is not None:
        raise inbound_frozen(item.name, item.id, site.name, freeze)
    existing = facts.lot
    if existing is not None and existing.qc_status != QcStatus.PENDING:
        # A QC result covers the goods that were checked; later goods must not inherit it.
        freeze = blocking_freeze(facts.freezes, existing.id, outbound=False)
        if freeze is not None:
            raise inbound_frozen(item.name, item.id, site.name, freeze)
        raise LotAlreadyChecked(
            f"批次 {existing.code} 已质检，新到的货不能并入，请用新的批次号", field="lot_code",
            lot_code=existing.code, qc_status=existing.qc_status.value)
    goods = money(quantity * price)
    tax = line_tax(goods, rate)
    return _Plan(cmd=cmd, site=site, item=item, quantity=quantity, when=when, party=party, order=order,
                 order_line=order_line, grade=grade, price=price, reference_price=reference, goods=goods, rate=rate,
                 tax=tax, total=goods + tax, facts=facts, invoice_number=invoice_number)


def _draft_payload(plan: _Plan) -> dict[str, Any]:
    """The command as stored on a draft receipt (JSON), to post it unchanged on confirmation."""
    c = plan.cmd
    return {
        "site_id": c.site_id, "item_id": c.item_id, "quantity": dec(c.quantity), "unit": c.unit,
        "party_id": c.party_id, "grade_id": c.grade_id,
        # The price the draft was entered and reviewed at, even if the grade's price changes before
        # the second person confirms (it was authorized then; confirming does not re-authorize).
        "unit_price": dec(plan.price),
        "purchase_order_id": c.purchase_order_id, "lot_code": c.lot_code,
        "produced_on": c.produced_on.isoformat() if c.produced_on else None,
        "expires_on": c.expires_on.isoformat() if c.expires_on else None,
        # The rate resolved when entered: confirming does not re-read the item's or party's.
        "tax_rate": dec(plan.rate), "business_time": plan.when.isoformat(),
        "move_id": str(c.move_id) if c.move_id else None, "origin_node": c.origin_node, "note": c.note,
        "price_reason": c.price_reason, "invoice_number": plan.invoice_number,
    }


def _command_from_draft(data: dict[str, Any]) -> ReceiveGoods:
    def d(v: Any) -> Decimal | None:
        return Decimal(v) if v is not None else None

    return ReceiveGoods(
        site_id=int(data["site_id"]), item_id=int(data["item_id"]), quantity=Decimal(data["quantity"]),
        unit=data.get("unit"), party_id=data.get("party_id"), grade_id=data.get("grade_id"),
        unit_price=d(data.get("unit_price")), purchase_order_id=data.get("purchase_order_id"),
        lot_code=data.get("lot_code"),
        produced_on=date.fromisoformat(data["produced_on"]) if data.get("produced_on") else None,
        expires_on=date.fromisoformat(data["expires_on"]) if data.get("expires_on") else None,
        tax_rate=Decimal(data.get("tax_rate") or 0), invoice_number=data.get("invoice_number"),
        business_time=datetime.fromisoformat(data["business_time"]),
        move_id=uuid.UUID(data["move_id"]) if data.get("move_id") else None,
        origin_node=data.get("origin_node") or "server", note=data.get("note") or "",
        price_reason=data.get("price_reason") or "",
    )


def _groupable(_actor: Actor, cmd: ReceiveGoods, **_kw: Any) -> bool:
    # A new lot, no order: its reads lock no row, so two groups of receipts never wait for each other.
    return cmd.lot_code is None and cmd.purchase_order_id is None


def _group_reads(session: Session, actor: Actor, cmd: ReceiveGoods, **_kw: Any) -> list[Read]:
    return _reads(session, actor, cmd)


@group_commit.groupable(_groupable, reads=_group_reads)
@idempotent("receive")
def receive_goods(session: Session, actor: Actor, cmd: ReceiveGoods) -> Receipt:
    """Post a receipt: lot, stock move, payable voucher, farmer settlement, outbox event. Above the
    item's plausibility limit it is stored as a draft that another member must confirm."""
    check_offline(session, cmd.site_id, OfflineKind.RECEIVE)
    uow, facts = _start(session, actor, cmd)
    plan = _plan(uow, actor, cmd, facts)
    limit = review_limit_of(uow.catalog.org.settings, plan.item.code)
    if plan.quantity > limit:
        return _draft(session, actor, plan, limit)
    return _post(uow, actor, plan, None)


def _draft(session: Session, actor: Actor, plan: _Plan, limit: Decimal) -> Receipt:
    """Store a receipt above the plausibility limit as a draft (ORM: rare, and it moves nothing)."""
    doc = open_document(
        session, actor, DocKind.RECEIPT, DocStatus.DRAFT, plan.when, site=plan.site,
        party_id=plan.party.id if plan.party else None, note=plan.cmd.note,
        source_document_id=plan.order.id if plan.order else None, total_amount=plan.total, tax_amount=plan.tax,
        invoice_number=plan.invoice_number,
    )
    override = _price_override(actor, plan, doc.id, doc.number)
    if override is not None:
        session.add(AuditEntry(**override))
    doc.extra = {"draft": _draft_payload(plan), "review_limit": dec(limit)}
    doc.lines.append(DocumentLine(org_id=actor.org_id, **_line_values(plan, None)))
    session.flush()
    emit(session, actor.org_id, "receipt.drafted", {
        "document_id": doc.id, "number": doc.number, "site_id": plan.site.id, "item_id": plan.item.id,
        "quantity": dec(plan.quantity), "amount": dec(plan.total), "party_id": doc.party_id,
        "review_limit": dec(limit),
    }, document_id=doc.id)
    return _result(plan, doc.id, doc.number, None, None, Decimal(0), Decimal(0), DocStatus.DRAFT)


def _price_override(actor: Actor, plan: _Plan, document_id: int, number: str) -> dict[str, Any] | None:
    """The audit row of a price other than the grade's or order's (None when it is the reference)."""
    if plan.price == plan.reference_price:
        return None
    return audit_values(actor, "receipt.price_override", "document", document_id,
                        before={"unit_price": dec(plan.reference_price)},
                        after={"unit_price": dec(plan.price), "number": number}, reason=plan.cmd.price_reason.strip())


def _line_values(plan: _Plan, lot_id: int | None) -> dict[str, Any]:
    return {
        "line_no": 1, "item_id": plan.item.id, "lot_id": lot_id, "grade_id": plan.grade.id if plan.grade else None,
        "quantity": plan.quantity, "entered_quantity": plan.cmd.quantity,
        "entered_unit": plan.cmd.unit or plan.item.base_unit, "unit_price": plan.price, "amount": plan.goods,
        "done_quantity": plan.quantity if lot_id is not None else Decimal(0),
        "tax_rate": plan.rate, "tax_amount": plan.tax,
    }


def _result(plan: _Plan, document_id: int, number: str, lot: tuple[int, str] | None, voucher_number: str | None,
            prepayment: Decimal, balance_due: Decimal, status: DocStatus) -> Receipt:
    return Receipt(
        document_id=document_id, number=number, site_id=plan.site.id, item_id=plan.item.id,
        lot_id=lot[0] if lot else None, lot_code=lot[1] if lot else None, quantity=plan.quantity,
        base_unit=plan.item.base_unit, entered_quantity=plan.cmd.quantity,
        entered_unit=plan.cmd.unit or plan.item.base_unit, grade=plan.grade.name if plan.grade else None,
        unit_price=plan.price, amount=plan.goods, tax=plan.tax, total=plan.total, prepayment=prepayment,
        balance_after_qc=balance_due, voucher_number=voucher_number,
        party_id=plan.party.id if plan.party else None, business_time=plan.when, status=status.value,
    )


def _post(uow: UnitOfWork, actor: Actor, plan: _Plan, draft: Document | None) -> Receipt:
    """Queue a checked receipt's rows on the posting writer: document (unless a confirmed ``draft``),
    line, lot, balance change, move, voucher, settlement, event. Order progress and a confirmed
    draft's own rows change through the ORM."""
    cmd, site, item, party, writer = plan.cmd, plan.site, plan.item, plan.party, uow.writer
    org_id = actor.org_id
    series, day = document_series(DocKind.RECEIPT, site, plan.when)
    period = period_of(plan.when)
    if plan.total:
        ensure_open(uow.catalog, period)  # before the counters: a closed period's says so less kindly
    wanted = ([] if draft is not None else [(series, day, DOC_SEQ_WIDTH)]) + (
        [(node.voucher_series(), period, VOUCHER_SEQ_WIDTH)] if plan.total else [])
    numbers = writer.numbers(org_id, wanted)
    ids = plan.facts.new_ids
    if draft is None:
        document_id, number = ids["documents"], document_number(series, day, numbers[0])
    else:
        document_id, number = draft.id, draft.number

    if draft is None:
        writer.insert(
            _documents, id=document_id, org_id=org_id, kind=DocKind.RECEIPT, number=number,
            status=DocStatus.POSTED, business_time=plan.when, site_id=site.id,
            party_id=party.id if party else None, created_by=actor.member_id, note=cmd.note,
            source_document_id=plan.order.id if plan.order else None, total_amount=plan.total,
            tax_amount=plan.tax, invoice_number=plan.invoice_number)
    if plan.facts.lot is not None:  # still without a QC result (checked in _plan)
        lot_id, lot_code = plan.facts.lot.id, plan.facts.lot.code
    else:
        lot_id, lot_code = ids["lots"], cmd.lot_code or number.removeprefix("RK-")
        received = local_date(plan.when)
        expires = cmd.expires_on
        if expires is None and item.shelf_life_days:
            expires = received + timedelta(days=item.shelf_life_days)
        writer.insert(_lots, id=lot_id, org_id=org_id, item_id=item.id, code=lot_code, received_on=received,
                      produced_on=cmd.produced_on, expires_on=expires, origin_party_id=party.id if party else None,
                      grade_id=plan.grade.id if plan.grade else None)
    freeze = blocking_freeze(plan.facts.freezes, lot_id, outbound=False)
    if freeze is not None:
        raise inbound_frozen(item.name, item.id, site.name, freeze)

    if draft is not None:  # its line carries the lot, and the document the figures posted
        line = draft.lines[0]
        line.lot_id, line.done_quantity = lot_id, plan.quantity
        line.quantity, line.unit_price, line.amount = plan.quantity, plan.price, plan.goods
        line.tax_rate, line.tax_amount = plan.rate, plan.tax
        draft.total_amount, draft.tax_amount = plan.total, plan.tax
    else:
        override = _price_override(actor, plan, document_id, number)
        if override is not None:  # by the writer: on PostgreSQL the number is only known when it is sent
            writer.insert(_audit, **override)
        writer.insert(_lines, org_id=org_id, document_id=document_id, **_line_values(plan, lot_id))
    writer.bump_balance(org_id, item.id, site.id, lot_id, plan.quantity, plan.goods)
    writer.insert(_moves, id=cmd.move_id or uuid.uuid4(), org_id=org_id, item_id=item.id, lot_id=lot_id,
                  site_id=site.id, quantity=plan.quantity, unit_cost=plan.price.quantize(COST_QUANTUM,
                                                                                         rounding=ROUND_HALF_UP),
                  value=plan.goods, document_id=document_id, business_time=plan.when,
                  origin_node=node.origin(cmd.origin_node), reverses_move_id=None)
    if plan.order_line is not None and plan.order is not None:
        plan.order_line.done_quantity += plan.quantity
        _advance_order(plan.order)

    party_kind = party.kind.value if party else "none"
    voucher_no, payable = None, Decimal(0)
    if plan.total:
        queued = queue_voucher(
            uow, voucher_id=ids["vouchers"], seq=numbers[-1], when=plan.when, document_id=document_id,
            event="receipt.posted",
            facts={"party_kind": party_kind, "site_kind": site.kind.value, "item_code": item.code},
            amounts={"goods": plan.goods, "tax": plan.tax, "total": plan.total},
            summary=f"{number} {party.name if party else ''} {item.name} 入库".strip(),
            party_id=party.id if party else None)
        voucher_no, payable = queued.number, payable_of(queued.lines)
    prepayment = balance_due = Decimal(0)
    if party is not None and party.kind == PartyKind.FARMER and plan.total > 0:
        prepayment = money(plan.total * uow.catalog.org.prepayment_ratio)
        balance_due = plan.total - prepayment
        writer.insert(_settlements, org_id=org_id, receipt_id=document_id, party_id=party.id, lot_id=lot_id,
                      total=plan.total, prepayment=prepayment, balance=balance_due, payable_open=payable,
                      status=SettlementStatus.PREPAYMENT_DUE)
    writer.insert(_events, org_id=org_id, kind="receipt.posted", document_id=document_id, payload={
        "document_id": document_id, "number": number, "site_id": site.id, "item_id": item.id,
        "lot_id": lot_id, "quantity": dec(plan.quantity), "amount": dec(plan.total),
        "party_id": party.id if party else None, "party_kind": party_kind, "prepayment": dec(prepayment),
    })
    return _result(plan, document_id, number, (lot_id, lot_code), voucher_no, prepayment, balance_due,
                   DocStatus.POSTED)


@idempotent("receive.confirm")
def confirm_draft_receipt(session: Session, actor: Actor, cmd: ConfirmDraftReceipt) -> Receipt:
    """Post a draft receipt as entered. The confirmer needs receive permission at its site and must
    not be the member who entered it (a farmer's or clerk's own large entry needs a second person)."""
    doc = get_owned(session, Document, cmd.document_id, actor.org_id, lock=True)
    data = (doc.extra or {}).get("draft") if doc.kind == DocKind.RECEIPT else None
    if doc.status != DocStatus.DRAFT or not isinstance(data, dict):
        raise InvalidState(f"单据 {doc.number} 不是待确认的入库草稿", number=doc.number, status=doc.status.value)
    if actor.member_id is None or actor.member_id == doc.created_by:
        raise SecondPersonRequired(f"入库单 {doc.number} 须由录入人以外的另一位收货员确认",
                                   number=doc.number)
    actor.require(Permission.RECEIVE, doc.site_id)
    check_offline(session, doc.site_id, OfflineKind.RECEIVE)
    draft_cmd = _command_from_draft(data)
    uow, facts = _start(session, actor, draft_cmd)
    plan = _plan(uow, actor, draft_cmd, facts, confirming=True)
    transition(doc, DocStatus.POSTED)
    doc.decided_by = actor.member_id
    record_audit(session, actor, "receipt.confirm_draft", "document", doc.id,
                 before={"status": DocStatus.DRAFT.value, "entered_by": doc.created_by},
                 after={"status": DocStatus.POSTED.value, "quantity": dec(plan.quantity), "amount": dec(plan.total)})
    return _post(uow, actor, plan, doc)


@idempotent("receive.cancel_draft")
def cancel_draft_receipt(session: Session, actor: Actor, cmd: CancelDraftReceipt) -> Receipt:
    """Cancel a draft receipt (a mistyped weight): it moved nothing, so whoever may receive there,
    the one who entered it included, may cancel it with a reason. Audited."""
    doc = get_owned(session, Document, cmd.document_id, actor.org_id, lock=True)
    data = (doc.extra or {}).get("draft") if doc.kind == DocKind.RECEIPT else None
    if doc.status != DocStatus.DRAFT or not isinstance(data, dict):
        raise InvalidState(f"单据 {doc.number} 不是待确认的入库草稿", number=doc.number, status=doc.status.value)
    actor.require(Permission.RECEIVE, doc.site_id)
    if not cmd.reason.strip():
        raise ValidationError("请写明作废原因", field="reason")
    transition(doc, DocStatus.CANCELLED)
    doc.decided_by = actor.member_id
    record_audit(session, actor, "receipt.cancel_draft", "document", doc.id, before={"status": "draft"},
                 after={"status": DocStatus.CANCELLED.value}, reason=cmd.reason.strip())
    line = doc.lines[0]
    item = session.get_one(Item, line.item_id)
    grade = session.get(Grade, line.grade_id) if line.grade_id else None
    return Receipt(
        document_id=doc.id, number=doc.number, site_id=doc.site_id or 0, item_id=item.id, lot_id=None,
        lot_code=None, quantity=line.quantity, base_unit=item.base_unit,
        entered_quantity=line.entered_quantity or line.quantity, entered_unit=line.entered_unit or item.base_unit,
        grade=grade.name if grade else None, unit_price=line.unit_price, amount=line.amount,
        tax=doc.tax_amount, total=doc.total_amount, prepayment=Decimal(0), balance_after_qc=Decimal(0),
        voucher_number=None, party_id=doc.party_id, business_time=doc.business_time, status=doc.status.value,
    )


def _order_line(
    session: Session, actor: Actor, cmd: ReceiveGoods, item_id: int, party: PartyInfo | None
) -> tuple[Document | None, DocumentLine | None]:
    if cmd.purchase_order_id is None:
        return None, None
    order = get_owned(session, Document, cmd.purchase_order_id, actor.org_id, lock=True)
    if order.kind != DocKind.PURCHASE_ORDER:
        raise ValidationError("不是采购订单", field="purchase_order_id")
    if order.status not in (DocStatus.CONFIRMED, DocStatus.PARTIAL):
        raise ValidationError(f"采购订单 {order.number} 已完成或已取消", field="purchase_order_id")
    approval = approval_status(session, actor.org_id, DocKind.PURCHASE_ORDER.value, order.id)
    if approval is not None and approval != ApprovalStatus.APPROVED:
        raise PurchaseOrderNotApproved(f"采购单尚未审批通过（{order.number}），不能收货",
                                       number=order.number, approval_status=str(approval))
    if party is not None and order.party_id != party.id:
        raise ValidationError("供货方与采购订单不一致", field="party_id")
    line = next((ln for ln in order.lines if ln.item_id == item_id), None)
    if line is None:
        raise ValidationError(f"采购订单 {order.number} 中没有此商品", field="item_id")
    return order, line


def _advance_order(order: Document) -> None:
    done = all(line.done_quantity >= line.quantity for line in order.lines)
    transition(order, DocStatus.DONE if done else DocStatus.PARTIAL)
