"""org config version: the key of the in-process catalog snapshot

Revision ID: b41c0e5a7d10
Revises: 9723efd285ac
Create Date: 2026-12-05 03:00:00

Every flush that changes an org's master data writes a new random token here
(models.catalog_snapshot); postings reuse their cached snapshot while it is unchanged. Existing
orgs get a token now.
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = 'b41c0e5a7d10'
down_revision: str | Sequence[str] | None = '9723efd285ac'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')
orgs = sa.table('orgs', sa.column('id', _ID), sa.column('config_version', sa.String(32)))


def upgrade() -> None:
    # A plain ADD COLUMN (no batch copy: on SQLite that would drop the table every other one refers to).
    op.add_column('orgs', sa.Column('config_version', sa.String(length=32), server_default='0', nullable=False))
    bind = op.get_bind()
    for (org_id,) in bind.execute(sa.select(orgs.c.id)).all():
        bind.execute(orgs.update().where(orgs.c.id == org_id).values(config_version=uuid.uuid4().hex))


def downgrade() -> None:
    op.drop_column('orgs', 'config_version')
