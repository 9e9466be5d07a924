"""order charges (extras against a sales order or a shipment) and an index for the margin report

Revision ID: bfd80fd8df7a
Revises: 729d32c34ee6
Create Date: 2026-12-05 09:00:00

``order_charges`` holds 运费 / 包装 / 佣金 / 其他 entered against a sales order or a shipment
(a reversal is a row of the opposite amount). The margin report reads one org's shipments of a
date range: documents get an index on (org, kind, business time), and one on the order a shipment
fulfils and one on the document a reversal undoes (one order's or shipment's margin).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = 'bfd80fd8df7a'
down_revision: str | Sequence[str] | None = '729d32c34ee6'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'order_charges',
        sa.Column('id', _ID, primary_key=True, autoincrement=True),
        sa.Column('org_id', _ID, sa.ForeignKey('orgs.id'), nullable=False),
        sa.Column('document_id', _ID, sa.ForeignKey('documents.id'), nullable=False),
        sa.Column('kind', sa.Enum('FREIGHT', 'PACKAGING', 'COMMISSION', 'OTHER', name='chargekind',
                                  native_enum=False, length=16), nullable=False),
        sa.Column('amount', models.types.ScaledDecimal(18, 2), nullable=False),
        sa.Column('charged_on', sa.Date(), nullable=False),
        sa.Column('note', sa.String(256), nullable=False),
        sa.Column('created_by', _ID, sa.ForeignKey('members.id'), nullable=True),
        sa.Column('reverses_charge_id', _ID, sa.ForeignKey('order_charges.id'), nullable=True),
        sa.Column('created_at', models.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint('amount <> 0', name='nonzero'),
        sa.UniqueConstraint('reverses_charge_id'),
    )
    op.create_index('ix_order_charges_org_id', 'order_charges', ['org_id'])
    op.create_index('ix_order_charges_org_document', 'order_charges', ['org_id', 'document_id'])
    # The VAT migration (ddd2bf2e58cf, parallel work) creates the same index for its monthly summary: whichever
    # runs first creates it, the other finds it there.
    op.create_index('ix_documents_org_kind_time', 'documents', ['org_id', 'kind', 'business_time'], if_not_exists=True)
    # An order's shipments, and a shipment's reversal (the margin of one order or shipment).
    op.create_index('ix_documents_source_document_id', 'documents', ['source_document_id'])
    op.create_index('ix_documents_reverses_document_id', 'documents', ['reverses_document_id'])


def downgrade() -> None:
    op.drop_index('ix_documents_reverses_document_id', table_name='documents')
    op.drop_index('ix_documents_source_document_id', table_name='documents')
    # ix_documents_org_kind_time stays: the VAT migration drops it in its own downgrade.
    op.drop_table('order_charges')
