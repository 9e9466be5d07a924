"""one way to keep photo evidence: evidence_photos for every channel, the bot's extra["photos"] moved in

Revision ID: 9723efd285ac
Revises: 7ec3350228bd
Create Date: 2026-12-05 01:10:00

Bot photos used to be media keys in ``documents.extra["photos"]``: never served (the media route
looks in evidence_photos) and never compared for reuse. evidence_photos now also belongs to a
document (or, pending, to a chat entry), so draft_id and party_id become optional. Upgrade moves
every extra["photos"] key into a row (the key names the photo's sha256; the perceptual hash and
size are read from the stored file when MEDIA_ROOT is reachable, else the hash is left blank and
matches nothing), and files confirmed intake drafts' photos under their receipt.
"""

import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = '9723efd285ac'
down_revision: str | Sequence[str] | None = '7ec3350228bd'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
_KEY = re.compile(r"(?:[0-9a-f]{2}/[0-9a-f]{2}/)?([0-9a-f]{64})\.jpg")

documents = sa.table(
    'documents', sa.column('id', _ID), sa.column('org_id', _ID), sa.column('party_id', _ID),
    sa.column('created_by', _ID), sa.column('created_at', models.types.UTCDateTime()),
    sa.column('extra', sa.JSON()))
photos = sa.table(
    'evidence_photos', sa.column('id', _ID), sa.column('org_id', _ID), sa.column('draft_id', _ID),
    sa.column('document_id', _ID), sa.column('party_id', _ID), sa.column('uploaded_by', _ID),
    sa.column('source', sa.String()), sa.column('position', sa.Integer()), sa.column('sha256', sa.String()),
    sa.column('phash', sa.String()), sa.column('format', sa.String()), sa.column('width', sa.Integer()),
    sa.column('height', sa.Integer()), sa.column('image_key', sa.String()), sa.column('thumb_key', sa.String()),
    sa.column('metadata', sa.JSON()), sa.column('created_at', models.types.UTCDateTime()))


def _media_root() -> Path:
    var_dir = Path(os.environ.get("LIUZHUAN_VAR_DIR", "var"))
    return Path(os.environ.get("MEDIA_ROOT", str(var_dir / "media")))


def _fingerprint(root: Path, key: str) -> tuple[str, int, int]:
    """(phash, width, height) of a stored photo; ("", 0, 0) when the file cannot be read here."""
    try:
        import imagehash
        from PIL import Image

        with Image.open(root / key) as img:
            rgb = img.convert("RGB")
            return str(imagehash.phash(rgb)), rgb.width, rgb.height
    except Exception:  # a missing or unreadable file must not stop the schema upgrade
        return "", 0, 0


def _row(doc: Any, key: str, position: int, root: Path) -> dict[str, Any]:
    match = _KEY.fullmatch(key)
    sha = match.group(1) if match else ""
    thumb = key[: -len(".jpg")] + ".thumb.jpg" if match else key
    phash, width, height = _fingerprint(root, key) if match else ("", 0, 0)
    return {"org_id": doc.org_id, "draft_id": None, "document_id": doc.id, "party_id": doc.party_id,
            "uploaded_by": doc.created_by, "source": "chat", "position": position, "sha256": sha,
            "phash": phash, "format": "jpeg", "width": width, "height": height, "image_key": key[:256],
            "thumb_key": thumb[:256], "metadata": {}, "created_at": doc.created_at}


def upgrade() -> None:
    # Added first on their own: mixed with the alterations, SQLite's batch copy cannot order the columns.
    op.add_column('evidence_photos', sa.Column('document_id', _ID, nullable=True))
    op.add_column('evidence_photos', sa.Column('uploaded_by', _ID, nullable=True))
    op.add_column('evidence_photos', sa.Column('source', sa.String(length=16), nullable=False,
                                               server_default='intake'))
    with op.batch_alter_table('evidence_photos', schema=None) as batch_op:
        batch_op.alter_column('draft_id', existing_type=_ID, nullable=True)
        batch_op.alter_column('party_id', existing_type=_ID, nullable=True)
        batch_op.create_foreign_key(batch_op.f('fk_evidence_photos_document_id_documents'), 'documents',
                                    ['document_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_evidence_photos_uploaded_by_members'), 'members',
                                    ['uploaded_by'], ['id'])
        batch_op.create_index(batch_op.f('ix_evidence_photos_document_id'), ['document_id'], unique=False)

    bind = op.get_bind()
    # A confirmed draft's photos are its receipt's evidence, as the code now files them.
    bind.execute(sa.text(
        "UPDATE evidence_photos SET document_id = (SELECT d.receipt_id FROM intake_drafts d"
        " WHERE d.id = evidence_photos.draft_id) WHERE draft_id IS NOT NULL AND document_id IS NULL"))
    root = _media_root()
    candidates = bind.execute(sa.select(documents).where(
        sa.cast(documents.c.extra, sa.Text).like('%"photos"%'))).all()
    for doc in candidates:
        extra = dict(doc.extra or {})
        keys = extra.pop("photos", None)
        if not isinstance(keys, list):
            continue
        keys = [k for k in dict.fromkeys(keys) if isinstance(k, str) and k]
        if keys:
            bind.execute(photos.insert(), [_row(doc, k, i, root) for i, k in enumerate(keys)])
        bind.execute(documents.update().where(documents.c.id == doc.id).values(extra=extra))
    # Chat entries pending across the upgrade listed keys; they now list photo ids (stale keys are dropped).
    bind.execute(sa.text("UPDATE chat_dialogs SET evidence = :empty").bindparams(
        sa.bindparam("empty", value=[], type_=sa.JSON())))


def downgrade() -> None:
    bind = op.get_bind()
    # Chat photos go back to their document's extra["photos"]; pending ones are forgotten.
    chat = bind.execute(sa.select(photos.c.document_id, photos.c.image_key).where(
        photos.c.draft_id.is_(None), photos.c.document_id.is_not(None))
        .order_by(photos.c.document_id, photos.c.position, photos.c.id)).all()
    by_doc: dict[int, list[str]] = {}
    for document_id, key in chat:
        by_doc.setdefault(document_id, []).append(key)
    for document_id, keys in by_doc.items():
        extra = bind.execute(sa.select(documents.c.extra).where(documents.c.id == document_id)).scalar() or {}
        bind.execute(documents.update().where(documents.c.id == document_id).values(
            extra={**extra, "photos": list(dict.fromkeys(keys))}))
    bind.execute(photos.delete().where(sa.or_(photos.c.draft_id.is_(None), photos.c.party_id.is_(None))))
    with op.batch_alter_table('evidence_photos', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_evidence_photos_document_id'))
        batch_op.drop_constraint(batch_op.f('fk_evidence_photos_uploaded_by_members'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_evidence_photos_document_id_documents'), type_='foreignkey')
        batch_op.alter_column('party_id', existing_type=_ID, nullable=False)
        batch_op.alter_column('draft_id', existing_type=_ID, nullable=False)
        batch_op.drop_column('source')
        batch_op.drop_column('uploaded_by')
        batch_op.drop_column('document_id')
