"""Quick entry in two steps: a draft (weight, grade, price, warnings), then confirm → receive_goods.

The channel decodes photos and recognises speech; this module parses the weight against the item's
units, checks permissions and the org's ids, prices the delivery, warns about reused photos and
unusual weights, and on confirm posts the receipt through ``receive_goods`` (idempotent by draft).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.base import utcnow
from models.catalog import Grade, Item
from models.documents import DocKind, Document
from models.errors import DomainError, IdempotencyConflict, NotFound, PermissionDenied, ValidationError
from models.finance import FarmerSettlement
from models.intake import DraftStatus, EvidencePhoto, IntakeDraft, WeightSource
from models.ledger import money
from models.lookup import get_owned
from models.operations.common import active_item, receipt_review_limit, stock_site
from models.operations.evidence import AttachEvidence, PhotoEvidence, attach_evidence, photo_visible  # noqa: F401 (the media route's check)
from models.operations.intake_checks import (
    DEFAULT_MAX_BASE,
    draft_for_client_id,
    parse_weight,
    weight_warning,
)
from models.operations.receiving import ReceiveGoods, receive_goods
from models.org import Org, Party, PartyKind, Role, Site, SiteKind


class GradeNotForItem(ValidationError):
    code = "GRADE_NOT_FOR_ITEM"
    default_message = "该商品没有这个等级"


class WeightMissing(ValidationError):
    code = "WEIGHT_REQUIRED"
    default_message = "请说出或输入重量"


@dataclass(frozen=True)
class CreateIntake:
    site_id: int
    grade_id: int | None = None
    #: None: the org's only active item with grades.
    item_id: int | None = None
    #: The farmer or supplier; a farmer member delivers as her own party.
    party_id: int | None = None
    typed_weight: str | None = None
    typed_unit: str | None = None
    transcript: str | None = None
    speech_confidence: float | None = None
    photos: tuple[PhotoEvidence, ...] = ()
    client_id: str | None = None
    #: sha256 of the request as sent (fields and file digests): a client id replayed with another body is a 409.
    request_hash: str = ""
    #: Warnings the channel found (speech disabled, typed and spoken weights differ, …).
    channel_warnings: tuple[tuple[str, str], ...] = ()
    #: Ask for one-step entry (allowed by org setting ``one_step_entry_min_confidence``).
    auto_confirm: bool = False


@dataclass(frozen=True)
class ConfirmIntake:
    draft_id: uuid.UUID
    weight: str | None = None
    unit: str | None = None
    grade_id: int | None = None


@dataclass(frozen=True)
class DeliveryNote:
    org_id: int
    document_id: int
    number: str
    org_name: str
    site_name: str
    party_name: str | None
    item_name: str
    grade: str | None
    quantity: Decimal
    unit: str
    base_quantity: Decimal
    base_unit: str
    unit_price: Decimal
    amount: Decimal
    prepayment: Decimal
    balance_after_qc: Decimal
    business_time: datetime
    status: str


@dataclass(frozen=True)
class DraftView:
    draft_id: uuid.UUID
    status: str
    site_id: int
    item_id: int
    item_name: str
    party_id: int
    party_name: str
    grade_id: int | None
    grade_name: str | None
    quantity: Decimal
    unit: str
    base_quantity: Decimal
    base_unit: str
    weight_source: str
    transcript: str | None
    confidence: Decimal
    unit_price: Decimal
    amount: Decimal
    prepayment: Decimal
    warnings: list[dict[str, Any]]
    photo_keys: list[tuple[str, str]]
    replayed: bool = False
    note: DeliveryNote | None = None


def _party_for(session: Session, actor: Actor, site: Site, party_id: int | None) -> Party:
    if actor.party_id is not None and not actor.can(Permission.RECEIVE, site.id):
        if party_id not in (None, actor.party_id):
            raise PermissionDenied("农户只能为自己录入交售", party_id=party_id)
        org = session.get_one(Org, actor.org_id)
        if site.kind != SiteKind.COLLECTION_POINT or not (org.settings or {}).get("farmer_self_entry", True):
            raise PermissionDenied("请到收购点由收货员录入", site_id=site.id)
        return get_owned(session, Party, actor.party_id, actor.org_id)
    actor.require(Permission.RECEIVE, site.id)
    if party_id is None:
        raise ValidationError("请选择交售的农户", field="party")
    party = get_owned(session, Party, party_id, actor.org_id)
    if party.kind == PartyKind.CUSTOMER or not party.active:
        raise ValidationError(f"{party.name} 不能作为交售方", field="party")
    return party


def _item_for(session: Session, actor: Actor, item_id: int | None) -> Item:
    if item_id is not None:
        return active_item(session, actor, item_id)
    graded = [i for i in session.scalars(select(Item).where(Item.org_id == actor.org_id, Item.active.is_(True)))
              if i.grades]
    if len(graded) != 1:
        raise ValidationError("请选择商品", field="item_id", candidates=[i.id for i in graded])
    return graded[0]


def _grade_for(session: Session, actor: Actor, item: Item, grade_id: int | None) -> Grade | None:
    if grade_id is None:
        if item.grades:
            raise ValidationError("请选择等级", field="grade_id")
        return None
    grade = get_owned(session, Grade, grade_id, actor.org_id)
    if grade.item_id != item.id:
        raise GradeNotForItem(f"{item.name} 没有这个等级，可选：{'、'.join(g.name for g in item.grades)}",
                              field="grade_id", grade_id=grade_id)
    return grade


def authorize_intake(session: Session, actor: Actor, site_id: int, party_id: int | None) -> None:
    """Refuse, before any upload is decoded, an intake the actor may not make at this site for this party."""
    _party_for(session, actor, stock_site(session, actor, site_id), party_id)


def _max_base(org: Org) -> Decimal:
    return Decimal(str((org.settings or {}).get("intake_max_base_quantity", DEFAULT_MAX_BASE)))


def create_intake(session: Session, actor: Actor, cmd: CreateIntake) -> DraftView:
    """Validate and price a delivery and store it as a draft (or post it at once when one-step applies)."""
    if cmd.client_id:
        existing = draft_for_client_id(session, actor.org_id, cmd.client_id)
        if existing is not None:
            if existing.request_hash != cmd.request_hash or existing.created_by != actor.member_id:
                raise IdempotencyConflict("这个录入编号已用于另一份交售", key=cmd.client_id)
            view = draft_view(session, existing, replayed=True)
            return view
    site = stock_site(session, actor, cmd.site_id)
    party = _party_for(session, actor, site, cmd.party_id)
    item = _item_for(session, actor, cmd.item_id)
    grade = _grade_for(session, actor, item, cmd.grade_id)
    org = session.get_one(Org, actor.org_id)
    warnings = [{"code": c, "message": m, "details": {}} for c, m in cmd.channel_warnings]
    if cmd.typed_weight:
        quantity, unit, base = parse_weight(session, item, cmd.typed_weight.strip(), spoken=False,
                                            max_base=_max_base(org), picked_unit=cmd.typed_unit)
        source, confidence = WeightSource.TYPED, Decimal(1)
        if cmd.transcript is not None:
            warnings += _compare_voice(session, item, cmd.transcript, base)
    elif cmd.transcript is not None:
        quantity, unit, base = parse_weight(session, item, cmd.transcript, spoken=True, max_base=_max_base(org))
        source = WeightSource.VOICE
        confidence = Decimal(str(round(cmd.speech_confidence or 0.0, 4)))
    else:
        raise WeightMissing()
    price = grade.purchase_price if grade else Decimal(0)
    amount = money(base * price)
    prepayment = money(amount * org.prepayment_ratio) if party.kind == PartyKind.FARMER else Decimal(0)
    before_photos = len(warnings)  # the photos' warnings go here, once the draft exists to carry them
    if (unusual := weight_warning(session, actor.org_id, party.id, item, base)) is not None:
        warnings.append(unusual)
    if base > (limit := receipt_review_limit(session, actor.org_id, item)):
        # receive_goods makes it a draft receipt; say so before the farmer leaves the counter.
        warnings.append({"code": "NEEDS_SECOND_PERSON",
                         "message": f"重量超过单次交售上限 {limit.normalize():f}{item.base_unit}，"
                                    "确认后须由另一位收货员复核",
                         "details": {"limit": str(limit), "weight": str(base)}})
    draft = IntakeDraft(
        org_id=actor.org_id, client_id=cmd.client_id or None, request_hash=cmd.request_hash,
        created_by=actor.member_id, site_id=site.id, item_id=item.id, party_id=party.id,
        grade_id=grade.id if grade else None, quantity=quantity, unit=unit, base_quantity=base,
        weight_source=source, transcript=(cmd.transcript or None) and cmd.transcript[:256], confidence=confidence,
        unit_price=price, amount=amount, prepayment=prepayment, warnings=warnings, status=DraftStatus.DRAFT,
    )
    session.add(draft)
    session.flush()
    if cmd.photos:
        kept = attach_evidence(session, actor, AttachEvidence(draft_id=draft.id, photos=cmd.photos, source="intake"))
        warnings[before_photos:before_photos] = kept.warnings
        draft.warnings = list(warnings)
        session.flush()
        session.expire(draft, ["photos"])  # loaded empty before the rows existed
    threshold = (org.settings or {}).get("one_step_entry_min_confidence")
    if cmd.auto_confirm and threshold is not None and confidence >= Decimal(str(threshold)) and not warnings:
        note = confirm_intake(session, actor, ConfirmIntake(draft.public_id))
        return draft_view(session, draft, note=note)
    return draft_view(session, draft)


def _compare_voice(session: Session, item: Item, transcript: str, typed_base: Decimal) -> list[dict[str, Any]]:
    """A typed weight wins; say so when the recording disagrees or could not be understood."""
    try:
        _q, _u, spoken = parse_weight(session, item, transcript, spoken=True, max_base=Decimal("1e9"))
    except DomainError as exc:
        return [{"code": "VOICE_NOT_UNDERSTOOD", "message": f"录音没有听懂（{exc.message}），已按输入的重量计算",
                 "details": {"transcript": transcript}}]
    if spoken != typed_base:
        return [{"code": "WEIGHT_MISMATCH",
                 "message": f"录音说的是 {spoken.normalize():f}{item.base_unit}，输入的是 "
                            f"{typed_base.normalize():f}{item.base_unit}，请核对",
                 "details": {"spoken": str(spoken), "typed": str(typed_base)}}]
    return []


def _poster(actor: Actor, draft: IntakeDraft) -> Actor:
    """The actor receive_goods runs as: a farmer confirming her own draft gets receive at that site only."""
    if actor.can(Permission.RECEIVE, draft.site_id):
        return actor
    if actor.party_id is not None and actor.party_id == draft.party_id and draft.created_by == actor.member_id:
        return Actor(org_id=actor.org_id, member_id=actor.member_id, name=actor.name,
                     roles=(*actor.roles, (Role.PURCHASER, draft.site_id)), party_id=actor.party_id)
    actor.require(Permission.RECEIVE, draft.site_id)
    return actor


def load_draft(session: Session, actor: Actor, draft_id: uuid.UUID) -> IntakeDraft:
    """A draft of the actor's organisation that the actor may see (a farmer: only her own)."""
    draft = session.scalar(select(IntakeDraft).where(IntakeDraft.public_id == draft_id,
                                                     IntakeDraft.org_id == actor.org_id))
    if draft is None or (actor.party_id is not None and not actor.can(Permission.RECEIVE, draft.site_id)
                         and draft.party_id != actor.party_id):
        raise NotFound("找不到这份交售草稿", entity="IntakeDraft", id=str(draft_id))
    return draft


def confirm_intake(session: Session, actor: Actor, cmd: ConfirmIntake) -> DeliveryNote:
    """Post the draft (with corrections) through receive_goods; a repeat returns the same delivery note."""
    draft = load_draft(session, actor, cmd.draft_id)
    poster = _poster(actor, draft)
    item = session.get_one(Item, draft.item_id)
    org = session.get_one(Org, actor.org_id)
    grade_id = cmd.grade_id if cmd.grade_id is not None else draft.grade_id
    grade = _grade_for(session, actor, item, grade_id)
    quantity, unit, base = draft.quantity, draft.unit, draft.base_quantity
    if cmd.weight:
        text = cmd.weight.strip() + (cmd.unit or "").strip()
        quantity, unit, base = parse_weight(session, item, text, spoken=False, max_base=_max_base(org))
    elif cmd.unit and cmd.unit != draft.unit:
        quantity, unit, base = parse_weight(session, item, f"{draft.quantity:f}{cmd.unit}", spoken=False,
                                            max_base=_max_base(org))
    # Shared key: whoever confirms (farmer or clerk, each checked above), the draft posts once.
    receipt = receive_goods(session, poster, ReceiveGoods(
        site_id=draft.site_id, item_id=item.id, quantity=quantity, unit=unit, party_id=draft.party_id,
        grade_id=grade.id if grade else None, note=f"快速录入 {draft.public_id}",
    ), idempotency_key=f"intake:{draft.public_id}", shared_key=True)
    if draft.status == DraftStatus.DRAFT:
        draft.quantity, draft.unit, draft.base_quantity = quantity, unit, base
        draft.grade_id = grade.id if grade else None
        draft.unit_price, draft.amount, draft.prepayment = receipt.unit_price, receipt.total, receipt.prepayment
        draft.status, draft.receipt_id, draft.confirmed_at = DraftStatus.CONFIRMED, receipt.document_id, utcnow()
        # The draft's photos become the receipt's evidence, as a chat entry's do.
        session.execute(update(EvidencePhoto).where(EvidencePhoto.org_id == draft.org_id,
                                                    EvidencePhoto.draft_id == draft.id)
                        .values(document_id=receipt.document_id))
    return delivery_note(session, actor.org_id, receipt.document_id)


def delivery_note(session: Session, org_id: int, document_id: int) -> DeliveryNote:
    """The delivery note of a posted receipt (read only)."""
    doc = get_owned(session, Document, document_id, org_id)
    if doc.kind != DocKind.RECEIPT or not doc.lines:
        raise NotFound("找不到这张交货单", entity="Document", id=document_id)
    line = doc.lines[0]
    item = session.get_one(Item, line.item_id)
    grade = session.get(Grade, line.grade_id) if line.grade_id else None
    party = session.get(Party, doc.party_id) if doc.party_id else None
    settlement = session.scalar(select(FarmerSettlement).where(FarmerSettlement.receipt_id == doc.id))
    return DeliveryNote(
        org_id=org_id, document_id=doc.id, number=doc.number, org_name=session.get_one(Org, org_id).name,
        site_name=session.get_one(Site, doc.site_id).name if doc.site_id else "",
        party_name=party.name if party else None, item_name=item.name, grade=grade.name if grade else None,
        quantity=line.entered_quantity or line.quantity, unit=line.entered_unit or item.base_unit,
        base_quantity=line.quantity, base_unit=item.base_unit, unit_price=line.unit_price,
        amount=doc.total_amount, prepayment=settlement.prepayment if settlement else Decimal(0),
        balance_after_qc=settlement.balance if settlement else Decimal(0), business_time=doc.business_time,
        status=doc.status.value,
    )


def draft_view(session: Session, draft: IntakeDraft, *, replayed: bool = False,
               note: DeliveryNote | None = None) -> DraftView:
    """What a client sees of a draft (with its delivery note once confirmed)."""
    item = session.get_one(Item, draft.item_id)
    grade = session.get(Grade, draft.grade_id) if draft.grade_id else None
    if note is None and draft.receipt_id is not None:
        note = delivery_note(session, draft.org_id, draft.receipt_id)
    return DraftView(
        draft_id=draft.public_id, status=draft.status.value, site_id=draft.site_id, item_id=item.id,
        item_name=item.name, party_id=draft.party_id, party_name=session.get_one(Party, draft.party_id).name,
        grade_id=draft.grade_id, grade_name=grade.name if grade else None, quantity=draft.quantity,
        unit=draft.unit, base_quantity=draft.base_quantity, base_unit=item.base_unit,
        weight_source=draft.weight_source.value, transcript=draft.transcript, confidence=draft.confidence,
        unit_price=draft.unit_price, amount=draft.amount, prepayment=draft.prepayment,
        warnings=list(draft.warnings or []), photo_keys=[(p.image_key, p.thumb_key) for p in draft.photos],
        replayed=replayed, note=note,
    )

