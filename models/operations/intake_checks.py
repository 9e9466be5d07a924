"""Quick-entry checks: parse the weight against the item's units, and the warnings a draft carries."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from statistics import median
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.catalog import Item
from models.documents import DocKind, DocStatus, Document, DocumentLine
from models.errors import InvalidQuantity
from models.intake import EvidencePhoto, IntakeDraft
from models.quantity import ParsedQuantity, parse_quantity
from models.timeutil import local_date
from models.units import to_base, units_for_item

#: Perceptual-hash distance (of 64 bits) under which two photos show the same scene.
PHASH_REUSE_DISTANCE = 6
#: A weight more than this factor above or below the farmer's median delivery is flagged.
UNUSUAL_FACTOR = Decimal(3)
DEFAULT_MAX_BASE = Decimal(5000)


def parse_weight(session: Session, item: Item, text: str, *, spoken: bool,
                 max_base: Decimal = DEFAULT_MAX_BASE, picked_unit: str | None = None) -> tuple[Decimal, str, Decimal]:
    """Return (quantity as entered, unit, exact base quantity) for typed or spoken text.

    One parser for both. Only a typed field's bare number takes a unit it does not say: the unit
    picker's (``picked_unit``), else the base unit. A unit the text says wins over the picker's, so
    "二十三斤半" with 斤 picked is 23.5 斤, never "二十三斤半斤".
    """
    units = units_for_item(session, item)
    default = None if spoken else ((picked_unit or "").strip() or item.base_unit)
    parsed: ParsedQuantity = parse_quantity(text, units, default_unit=default, base_unit=item.base_unit)
    base = to_base(session, item, parsed.value, parsed.unit)  # zero and absurd amounts, precision
    if base > max_base:
        limit = f"{max_base.normalize():f}{item.base_unit}"
        raise InvalidQuantity(f"重量过大：{parsed.text}，一次交售不超过 {limit}，请核对",
                              quantity=str(parsed.value), unit=parsed.unit, max_base=str(max_base))
    return parsed.value, parsed.unit, base


def phash_distance(a: str, b: str) -> int:
    """Hamming distance of two 16-hex-digit perceptual hashes (a broken hash counts as far)."""
    try:
        return (int(a, 16) ^ int(b, 16)).bit_count()
    except ValueError:
        return 64


def _warning(code: str, message: str, **details: Any) -> dict[str, Any]:
    return {"code": code, "message": message, "details": details}


def photo_warnings(session: Session, org_id: int, party_id: int | None,
                   photos: Sequence[tuple[str, str]], *, first_index: int = 0) -> list[dict[str, Any]]:
    """Warn about photos uploaded before (same sha256) or reused from this farmer's earlier deliveries (phash).

    Photos from every channel count (intake, chat, migrated). With no party known (a chat entry that
    names none), the org's recent photos stand in for the farmer's. ``first_index`` numbers the photos
    after those the entry already carries.
    """
    out: list[dict[str, Any]] = []
    shas = [sha for sha, _ in photos]
    seen = {row.sha256: row for row in session.scalars(select(EvidencePhoto).where(
        EvidencePhoto.org_id == org_id, EvidencePhoto.sha256.in_(shas)))} if shas else {}
    same_party = EvidencePhoto.party_id == party_id if party_id is not None else EvidencePhoto.org_id == org_id
    earlier = list(session.execute(select(EvidencePhoto.sha256, EvidencePhoto.phash, EvidencePhoto.created_at).where(
        EvidencePhoto.org_id == org_id, same_party)
        .order_by(EvidencePhoto.id.desc()).limit(500)))
    for index, (sha, phash) in enumerate(photos, start=first_index):
        if sha in seen:
            when = local_date(seen[sha].created_at).isoformat()
            out.append(_warning("PHOTO_DUPLICATE", f"第{index + 1}张照片在 {when} 已经上传过", photo=index,
                                first_uploaded=when))
            continue
        close = next((row for row in earlier if phash_distance(row.phash, phash) <= PHASH_REUSE_DISTANCE), None)
        if close is not None:
            when = local_date(close.created_at).isoformat()
            out.append(_warning("PHOTO_REUSED", f"第{index + 1}张照片与 {when} 交售的照片几乎相同，请重新拍摄",
                                photo=index, similar_to=when))
    return out


def weight_warning(session: Session, org_id: int, party_id: int, item: Item, base: Decimal) -> dict[str, Any] | None:
    """Warn when ``base`` is far outside this farmer's last 20 deliveries of the item (needs 3 or more)."""
    recent = [q for q in session.scalars(
        select(DocumentLine.quantity).join(Document, Document.id == DocumentLine.document_id).where(
            Document.org_id == org_id, Document.party_id == party_id, Document.kind == DocKind.RECEIPT,
            Document.status == DocStatus.POSTED, DocumentLine.item_id == item.id)
        .order_by(Document.id.desc()).limit(20)) if q > 0]
    if len(recent) < 3:
        return None
    usual = Decimal(median(recent))
    if base > usual * UNUSUAL_FACTOR or base * UNUSUAL_FACTOR < usual:
        return _warning("WEIGHT_UNUSUAL",
                        f"重量 {base.normalize():f}{item.base_unit} 与平时（约 {usual.normalize():f}{item.base_unit}）"
                        "相差很大，请核对", usual=str(usual), weight=str(base))
    return None


def draft_for_client_id(session: Session, org_id: int, client_id: str) -> IntakeDraft | None:
    """The draft an earlier request with this client id created, if any."""
    return session.scalar(select(IntakeDraft).where(IntakeDraft.org_id == org_id, IntakeDraft.client_id == client_id))
