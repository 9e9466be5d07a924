"""Photo evidence, one way for every channel: ``EvidencePhoto`` rows on a document or a pending entry.

The mini-program's intake drafts and the bots' chat entries both keep their photos here, so every
photo gets the same reuse check (same bytes or same perceptual hash seen before in the org), is
served by the same authorised media route (``photo_visible``), and moves with its entry onto the
document the entry posts. The channel decodes and stores the image files; this module only keeps
their fingerprints and keys.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.chat import ChatDialog
from models.documents import DocKind, Document
from models.errors import NotFound, PermissionDenied, ValidationError
from models.intake import EvidencePhoto, IntakeDraft
from models.lookup import get_owned
from models.operations.intake_checks import photo_warnings
from models.outbox import emit

#: Who may add evidence to a document they did not create.
_PERMISSION = {DocKind.RECEIPT: Permission.RECEIVE, DocKind.SHIPMENT: Permission.SHIP,
               DocKind.COUNT: Permission.COUNT, DocKind.TRANSFER: Permission.TRANSFER_REQUEST}
MAX_PHOTOS = 9


class TooManyEvidencePhotos(ValidationError):
    code = "TOO_MANY_PHOTOS"
    default_message = f"每张单据最多 {MAX_PHOTOS} 张照片"


@dataclass(frozen=True)
class PhotoEvidence:
    """A decoded, stripped photo as the channel stored it: fingerprints, size and content keys."""

    sha256: str
    phash: str
    format: str
    width: int
    height: int
    image_key: str
    thumb_key: str
    metadata: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)


@dataclass(frozen=True)
class AttachEvidence:
    """Keep photos as evidence of exactly one target: a document, an intake draft or a pending chat entry.

    ``photos`` are new uploads; ``pending_ids`` are photos the actor sent while a chat entry was
    pending, filed under the document that entry has just posted.
    """

    document_id: int | None = None
    draft_id: int | None = None
    dialog_id: int | None = None
    photos: tuple[PhotoEvidence, ...] = ()
    pending_ids: tuple[int, ...] = ()
    source: str = "chat"


@dataclass(frozen=True)
class EvidenceAttached:
    document_id: int | None
    number: str | None
    #: Every photo the target now carries, in order (new ones included).
    photo_ids: list[int]
    photo_keys: list[str]
    #: Reuse warnings for the new photos, in intake's shape ({"code", "message", "details"}).
    warnings: list[dict[str, Any]]


@dataclass
class _Target:
    party_id: int | None
    existing: list[EvidencePhoto]
    document: Document | None = None
    draft: IntakeDraft | None = None
    dialog: ChatDialog | None = None


def _target(session: Session, actor: Actor, cmd: AttachEvidence) -> _Target:
    if sum(x is not None for x in (cmd.document_id, cmd.draft_id, cmd.dialog_id)) != 1:
        raise ValidationError("照片须附到一张单据或一条待确认的登记", field="target")
    if cmd.document_id is not None:
        doc = get_owned(session, Document, cmd.document_id, actor.org_id, lock=True)
        if doc.created_by != actor.member_id:
            actor.require(_PERMISSION.get(doc.kind, Permission.REVERSE), doc.site_id)
        rows = session.scalars(select(EvidencePhoto).where(
            EvidencePhoto.org_id == actor.org_id, EvidencePhoto.document_id == doc.id)
            .order_by(EvidencePhoto.position, EvidencePhoto.id)).all()
        return _Target(doc.party_id, list(rows), document=doc)
    if cmd.draft_id is not None:
        draft = get_owned(session, IntakeDraft, cmd.draft_id, actor.org_id, lock=True)
        if draft.created_by != actor.member_id:
            actor.require(Permission.RECEIVE, draft.site_id)
        rows = session.scalars(select(EvidencePhoto).where(
            EvidencePhoto.org_id == actor.org_id, EvidencePhoto.draft_id == draft.id)
            .order_by(EvidencePhoto.position, EvidencePhoto.id)).all()
        return _Target(draft.party_id, list(rows), draft=draft)
    dialog = session.get(ChatDialog, cmd.dialog_id, with_for_update=True)
    # A chat entry is its author's alone: nobody else adds to (or learns of) it.
    if dialog is None or dialog.org_id != actor.org_id or dialog.member_id != actor.member_id:
        raise NotFound("没有待确认的登记", dialog_id=cmd.dialog_id)
    ids = [i for i in (dialog.evidence or []) if isinstance(i, int)]
    by_id = {r.id: r for r in session.scalars(select(EvidencePhoto).where(
        EvidencePhoto.org_id == actor.org_id, EvidencePhoto.id.in_(ids)))} if ids else {}
    party = (dialog.intent or {}).get("party_id")
    return _Target(party if isinstance(party, int) else None, [by_id[i] for i in ids if i in by_id], dialog=dialog)


def _pending(session: Session, actor: Actor, ids: tuple[int, ...]) -> list[EvidencePhoto]:
    """The actor's own photos of a chat entry not filed anywhere yet (anything else is refused)."""
    if not ids:
        return []
    rows = {r.id: r for r in session.scalars(select(EvidencePhoto).where(
        EvidencePhoto.org_id == actor.org_id, EvidencePhoto.id.in_(ids)).with_for_update())}
    for i in ids:
        row = rows.get(i)
        if row is None or row.uploaded_by != actor.member_id or row.document_id is not None \
                or row.draft_id is not None:
            raise PermissionDenied("只能附上自己待确认登记的照片", photo_id=i)
    return [rows[i] for i in dict.fromkeys(ids)]


def attach_evidence(session: Session, actor: Actor, cmd: AttachEvidence) -> EvidenceAttached:
    """Keep photos on a document, an intake draft or a pending chat entry, with intake's reuse warnings.

    A photo the target already carries (same bytes) is not added twice and not warned about; more
    than ``MAX_PHOTOS`` is refused whole. The rows are flushed; the channel writes the image files.
    """
    target = _target(session, actor, cmd)
    pending = _pending(session, actor, cmd.pending_ids)
    if pending and target.document is None:
        raise ValidationError("待确认登记的照片只能附到单据上", field="pending_ids")
    have = {r.sha256 for r in target.existing}
    fresh: list[PhotoEvidence] = []
    for p in cmd.photos:
        if p.sha256 not in have:
            have.add(p.sha256)
            fresh.append(p)
    moved = [r for r in pending if r not in target.existing]
    total = len(target.existing) + len(moved) + len(fresh)
    if total > MAX_PHOTOS:
        raise TooManyEvidencePhotos(count=total, max_photos=MAX_PHOTOS)
    # Checked before the new rows exist, so a photo is never "seen before" because of itself.
    warnings = photo_warnings(session, actor.org_id, target.party_id, [(p.sha256, p.phash) for p in fresh],
                              first_index=len(target.existing) + len(moved)) if fresh else []
    position = len(target.existing)
    rows = list(target.existing)
    for row in moved:  # only onto a document (checked above); the document's party is the one that counts
        assert target.document is not None
        row.document_id, row.party_id, row.position = target.document.id, target.party_id, position
        position += 1
        rows.append(row)
    for p in fresh:
        row = EvidencePhoto(
            org_id=actor.org_id, draft_id=target.draft.id if target.draft else None,
            document_id=target.document.id if target.document else None, party_id=target.party_id,
            uploaded_by=actor.member_id, source=cmd.source[:16], position=position, sha256=p.sha256,
            phash=p.phash, format=p.format, width=p.width, height=p.height, image_key=p.image_key,
            thumb_key=p.thumb_key, photo_metadata=dict(p.metadata))
        session.add(row)
        rows.append(row)
        position += 1
    session.flush()
    if target.dialog is not None:
        target.dialog.evidence = [r.id for r in rows]
        session.flush()
    doc = target.document
    if doc is not None and (moved or fresh):
        emit(session, actor.org_id, "document.evidence_attached", {
            "document_id": doc.id, "number": doc.number, "photos": [r.image_key for r in rows],
            "source": cmd.source, "warnings": [w["code"] for w in warnings],
        }, document_id=doc.id)
    return EvidenceAttached(doc.id if doc else None, doc.number if doc else None, [r.id for r in rows],
                            [r.image_key for r in rows], warnings)


def document_photos(session: Session, org_id: int, document_id: int) -> list[EvidencePhoto]:
    """A document's evidence photos, in the order they were attached."""
    return list(session.scalars(select(EvidencePhoto).where(
        EvidencePhoto.org_id == org_id, EvidencePhoto.document_id == document_id)
        .order_by(EvidencePhoto.position, EvidencePhoto.id)))


def photo_visible(session: Session, actor: Actor, key: str) -> bool:
    """Whether ``key`` is a stored copy of a photo the actor may see, whichever channel kept it.

    Same organisation, and one of: the actor uploaded it; it is of the actor's own party (a
    farmer's deliveries); its document or intake is at a site where the actor may see stock. The
    files are content-addressed, so one key may belong to several rows: any visible one will do.
    """
    match = (EvidencePhoto.org_id == actor.org_id) & (
        (EvidencePhoto.image_key == key) | (EvidencePhoto.thumb_key == key))
    sites = actor.site_ids(Permission.VIEW_STOCK)
    if sites is None:  # every site (and system actors)
        return bool(session.scalar(select(exists().where(match))))
    allowed: list[ColumnElement[bool]] = [
        EvidencePhoto.document_id.in_(select(Document.id).where(Document.site_id.in_(sites))),
        EvidencePhoto.draft_id.in_(select(IntakeDraft.id).where(IntakeDraft.site_id.in_(sites))),
    ]
    if actor.member_id is not None:
        allowed.append(EvidencePhoto.uploaded_by == actor.member_id)
    if actor.party_id is not None:
        allowed.append(EvidencePhoto.party_id == actor.party_id)
    return bool(session.scalar(select(exists().where(match & or_(*allowed)))))
