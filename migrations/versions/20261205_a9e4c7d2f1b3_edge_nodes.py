"""Edge nodes: the registry (nodes, node_sites), the nonces of signed node requests, a node's own state

Revision ID: a9e4c7d2f1b3
Revises: c4f8a2e61d7b
Create Date: 2026-12-05 15:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from models.types import UTCDateTime

revision: str = 'a9e4c7d2f1b3'
down_revision: str | Sequence[str] | None = 'c4f8a2e61d7b'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BIG = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'nodes',
        sa.Column('id', BIG, autoincrement=True, nullable=False),
        sa.Column('org_id', BIG, nullable=False),
        sa.Column('created_at', UTCDateTime(), nullable=False),
        sa.Column('code', sa.String(length=8), nullable=False),
        sa.Column('name', sa.String(length=64), nullable=False),
        sa.Column('key', sa.String(length=64), nullable=False),
        sa.Column('created_by', BIG, nullable=True),
        sa.Column('active', sa.Boolean(), nullable=False),
        sa.Column('last_contact_at', UTCDateTime(), nullable=True),
        sa.Column('last_contact_ip', sa.String(length=64), nullable=True),
        sa.Column('last_version', sa.String(length=32), nullable=True),
        sa.Column('rows_up', sa.BigInteger(), nullable=False),
        sa.Column('rows_down', sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_nodes_org_id_orgs')),
        sa.ForeignKeyConstraint(['created_by'], ['members.id'], name=op.f('fk_nodes_created_by_members')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_nodes')),
        sa.UniqueConstraint('org_id', 'code', name=op.f('uq_nodes_org_id_code')),
    )
    op.create_index(op.f('ix_nodes_org_id'), 'nodes', ['org_id'], unique=False)
    op.create_table(
        'node_sites',
        sa.Column('id', BIG, autoincrement=True, nullable=False),
        sa.Column('node_id', BIG, nullable=False),
        sa.Column('site_id', BIG, nullable=False),
        sa.ForeignKeyConstraint(['node_id'], ['nodes.id'], name=op.f('fk_node_sites_node_id_nodes')),
        sa.ForeignKeyConstraint(['site_id'], ['sites.id'], name=op.f('fk_node_sites_site_id_sites')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_node_sites')),
        sa.UniqueConstraint('node_id', 'site_id', name=op.f('uq_node_sites_node_id_site_id')),
    )
    op.create_index(op.f('ix_node_sites_node_id'), 'node_sites', ['node_id'], unique=False)
    op.create_table(
        'node_nonces',
        sa.Column('id', BIG, autoincrement=True, nullable=False),
        sa.Column('node_id', BIG, nullable=False),
        sa.Column('nonce', sa.String(length=64), nullable=False),
        sa.Column('expires_at', UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(['node_id'], ['nodes.id'], name=op.f('fk_node_nonces_node_id_nodes')),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_node_nonces')),
        sa.UniqueConstraint('node_id', 'nonce', name=op.f('uq_node_nonces_node_id_nonce')),
    )
    op.create_index(op.f('ix_node_nonces_expires_at'), 'node_nonces', ['expires_at'], unique=False)
    op.create_table(
        'node_state',
        sa.Column('id', BIG, autoincrement=True, nullable=False),
        sa.Column('node_code', sa.String(length=8), nullable=False),
        sa.Column('last_synced_at', UTCDateTime(), nullable=True),
        sa.Column('hq_time', UTCDateTime(), nullable=True),
        sa.Column('last_error', sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_node_state')),
        sa.UniqueConstraint('node_code', name=op.f('uq_node_state_node_code')),
    )


def downgrade() -> None:
    op.drop_table('node_state')
    op.drop_index(op.f('ix_node_nonces_expires_at'), table_name='node_nonces')
    op.drop_table('node_nonces')
    op.drop_index(op.f('ix_node_sites_node_id'), table_name='node_sites')
    op.drop_table('node_sites')
    op.drop_index(op.f('ix_nodes_org_id'), table_name='nodes')
    op.drop_table('nodes')
