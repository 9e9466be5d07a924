"""Attach evidence (photos sent in a chat or the mini-program) to a posted document."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.documents import DocKind, Document
from models.errors import ValidationError
from models.lookup import get_owned
from models.outbox import emit

#: Who may add evidence to a document they did not create.
_PERMISSION = {DocKind.RECEIPT: Permission.RECEIVE, DocKind.SHIPMENT: Permission.SHIP,
               DocKind.COUNT: Permission.COUNT, DocKind.TRANSFER: Permission.TRANSFER_REQUEST}
MAX_PHOTOS = 9


@dataclass(frozen=True)
class AttachEvidence:
    document_id: int
    #: Media storage keys of processed photos.
    photo_keys: tuple[str, ...]
    source: str = "chat"


@dataclass(frozen=True)
class EvidenceAttached:
    document_id: int
    number: str
    photo_keys: list[str]


def attach_evidence(session: Session, actor: Actor, cmd: AttachEvidence) -> EvidenceAttached:
    """Add photo keys to ``document.extra["photos"]`` (evidence, never state); duplicates are ignored."""
    doc = get_owned(session, Document, cmd.document_id, actor.org_id, lock=True)
    if doc.created_by != actor.member_id:
        actor.require(_PERMISSION.get(doc.kind, Permission.REVERSE), doc.site_id)
    photos = list(dict.fromkeys([*(doc.extra or {}).get("photos", []), *cmd.photo_keys]))
    if len(photos) > MAX_PHOTOS:
        raise ValidationError(f"每张单据最多 {MAX_PHOTOS} 张照片", field="photo_keys")
    doc.extra = {**(doc.extra or {}), "photos": photos}
    emit(session, actor.org_id, "document.evidence_attached", {
        "document_id": doc.id, "number": doc.number, "photos": photos, "source": cmd.source,
    }, document_id=doc.id)
    return EvidenceAttached(doc.id, doc.number, photos)
