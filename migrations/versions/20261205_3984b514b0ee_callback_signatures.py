"""callback signatures remembered against replay (issue 10, finding 4)

Revision ID: 3984b514b0ee
Revises: 941de4b7f1e2
Create Date: 2026-12-05 00:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = "3984b514b0ee"
down_revision: str | None = "941de4b7f1e2"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "callback_signatures",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("sig_key", sa.String(length=200), nullable=False),
        sa.Column("body_digest", sa.String(length=64), nullable=False),
        sa.Column("expires_at", models.types.UTCDateTime(), nullable=False),
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_callback_signatures")),
        sa.UniqueConstraint("channel", "sig_key", name=op.f("uq_callback_signatures_channel_sig_key")),
    )
    with op.batch_alter_table("callback_signatures", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_callback_signatures_expires_at"), ["expires_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("callback_signatures", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_callback_signatures_expires_at"))
    op.drop_table("callback_signatures")
