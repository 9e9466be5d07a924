"""idempotency keys scoped to the member; delivery-note link revocations

Revision ID: fb8fc9239d86
Revises: 941de4b7f1e2
Create Date: 2026-12-04 23:59:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = 'fb8fc9239d86'
down_revision: str | None = '941de4b7f1e2'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    # Existing keys move to the shared scope (0): a member's old key is then a new key for him.
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.add_column(sa.Column('member_id', _BIG, server_default='0', nullable=False))
        batch_op.drop_constraint('uq_idempotency_records_org_id_key', type_='unique')
        batch_op.create_unique_constraint(
            'uq_idempotency_records_org_id_member_id_key', ['org_id', 'member_id', 'key'])

    op.create_table('delivery_note_revocations',
    sa.Column('document_id', _BIG, nullable=False),
    sa.Column('revoked_at', models.types.UTCDateTime(), nullable=False),
    sa.Column('revoked_by', _BIG, nullable=True),
    sa.Column('reason', sa.String(length=256), nullable=False),
    sa.Column('id', _BIG, autoincrement=True, nullable=False),
    sa.Column('org_id', _BIG, nullable=False),
    sa.Column('created_at', models.types.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['documents.id'],
                            name=op.f('fk_delivery_note_revocations_document_id_documents')),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_delivery_note_revocations_org_id_orgs')),
    sa.ForeignKeyConstraint(['revoked_by'], ['members.id'],
                            name=op.f('fk_delivery_note_revocations_revoked_by_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_delivery_note_revocations')),
    sa.UniqueConstraint('org_id', 'document_id', name=op.f('uq_delivery_note_revocations_org_id_document_id'))
    )
    with op.batch_alter_table('delivery_note_revocations', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_delivery_note_revocations_org_id'), ['org_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('delivery_note_revocations', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_delivery_note_revocations_org_id'))
    op.drop_table('delivery_note_revocations')
    with op.batch_alter_table('idempotency_records', schema=None) as batch_op:
        batch_op.drop_constraint('uq_idempotency_records_org_id_member_id_key', type_='unique')
        batch_op.create_unique_constraint('uq_idempotency_records_org_id_key', ['org_id', 'key'])
        batch_op.drop_column('member_id')
