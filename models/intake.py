"""Quick-entry drafts (photo + spoken or typed weight + grade) and their evidence photos."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Enum, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, BigId, CreatedMixin, IdMixin, OrgMixin
from models.types import Money, Qty, ScaledDecimal, UnitCost, UTCDateTime


class DraftStatus(enum.StrEnum):
    DRAFT = "draft"
    CONFIRMED = "confirmed"


class WeightSource(enum.StrEnum):
    TYPED = "typed"
    VOICE = "voice"


class IntakeDraft(IdMixin, OrgMixin, CreatedMixin, Base):
    """A delivery waiting for the farmer's or clerk's confirmation; confirming posts the receipt."""

    __tablename__ = "intake_drafts"
    __table_args__ = (UniqueConstraint("org_id", "client_id"),)

    public_id: Mapped[uuid.UUID] = mapped_column(Uuid, unique=True, default=uuid.uuid4)
    #: The phone's own id for this entry: a retry returns the same draft, another body is a 409.
    client_id: Mapped[str | None] = mapped_column(String(64))
    request_hash: Mapped[str] = mapped_column(String(64))
    created_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))
    site_id: Mapped[int] = mapped_column(BigId, ForeignKey("sites.id"))
    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("items.id"))
    party_id: Mapped[int] = mapped_column(BigId, ForeignKey("parties.id"), index=True)
    grade_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("grades.id"))
    #: As typed or said (23.5 斤), and exactly in the item's base unit (11.75 公斤).
    quantity: Mapped[Decimal] = mapped_column(Qty())
    unit: Mapped[str] = mapped_column(String(16))
    base_quantity: Mapped[Decimal] = mapped_column(Qty())
    weight_source: Mapped[WeightSource] = mapped_column(Enum(WeightSource, native_enum=False, length=8))
    transcript: Mapped[str | None] = mapped_column(String(256))
    #: Recognition confidence 0..1 (1 for a typed weight).
    confidence: Mapped[Decimal] = mapped_column(ScaledDecimal(6, 4))
    unit_price: Mapped[Decimal] = mapped_column(UnitCost())
    amount: Mapped[Decimal] = mapped_column(Money())
    prepayment: Mapped[Decimal] = mapped_column(Money())
    warnings: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    status: Mapped[DraftStatus] = mapped_column(Enum(DraftStatus, native_enum=False, length=12))
    receipt_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("documents.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    photos: Mapped[list[EvidencePhoto]] = relationship(lazy="selectin", order_by="EvidencePhoto.position")


class EvidencePhoto(IdMixin, OrgMixin, CreatedMixin, Base):
    """One photo kept as evidence, from any channel: fingerprints to spot reuse, metadata, stripped copies.

    It belongs to an intake draft, a posted document, or (neither yet) a chat entry waiting for 确认,
    whose ``ChatDialog.evidence`` lists its id; ``models.operations.evidence`` is the one way in.
    """

    __tablename__ = "evidence_photos"
    __table_args__ = (Index("ix_evidence_photos_org_sha", "org_id", "sha256"),
                      Index("ix_evidence_photos_org_party", "org_id", "party_id"))

    draft_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("intake_drafts.id"), index=True)
    document_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("documents.id"), index=True)
    #: The farmer or supplier the photo is about (None: a document with no party, or not known yet).
    party_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("parties.id"))
    uploaded_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))
    #: "intake" | "chat" | "migrated" …: the channel the photo came in through.
    source: Mapped[str] = mapped_column(String(16), default="intake", server_default="intake")
    position: Mapped[int] = mapped_column(Integer, default=0)
    #: sha256 of the bytes as uploaded (exact duplicates) and a 64-bit perceptual hash (re-encodes).
    sha256: Mapped[str] = mapped_column(String(64))
    phash: Mapped[str] = mapped_column(String(16))
    format: Mapped[str] = mapped_column(String(8))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    #: Storage keys of the served copies (no EXIF, no GPS).
    image_key: Mapped[str] = mapped_column(String(256))
    thumb_key: Mapped[str] = mapped_column(String(256))
    #: Capture time, camera, GPS from the original EXIF: evidence, never served with the image.
    photo_metadata: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)


class NoteLinkRevocation(IdMixin, OrgMixin, CreatedMixin, Base):
    """A delivery note's shared links were withdrawn: links issued up to ``revoked_at`` answer 410."""

    __tablename__ = "delivery_note_revocations"
    __table_args__ = (UniqueConstraint("org_id", "document_id"),)

    document_id: Mapped[int] = mapped_column(BigId, ForeignKey("documents.id"))
    #: Links issued at or before this moment are dead; a link issued afterwards works (re-share).
    revoked_at: Mapped[datetime] = mapped_column(UTCDateTime())
    revoked_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))
    reason: Mapped[str] = mapped_column(String(256), default="")
