"""replication (issue 14): the node's change log and apply flag, the cursors on both sides, and the
conflicts headquarters records when a node's change clashes with its own.

Revision ID: b5d2e8f4a173
Revises: 9d3e6b1f0a58
Create Date: 2026-12-05 18:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = 'b5d2e8f4a173'
down_revision: str | Sequence[str] | None = '9d3e6b1f0a58'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table(
        'sync_log',
        sa.Column('seq', sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column('tbl', sa.String(32), nullable=False),
        sa.Column('row_key', sa.String(40), nullable=False),
        sa.PrimaryKeyConstraint('seq', name='pk_sync_log'),
        sqlite_autoincrement=True,
    )
    op.create_table(
        'sync_applying',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_sync_applying'),
    )
    op.create_table(
        'sync_conflicts',
        sa.Column('id', _ID, nullable=False),
        sa.Column('org_id', _ID, sa.ForeignKey('orgs.id', name='fk_sync_conflicts_org_id_orgs'), nullable=False),
        sa.Column('node_id', _ID, sa.ForeignKey('nodes.id', name='fk_sync_conflicts_node_id_nodes'), nullable=False),
        sa.Column('rule', sa.String(32), nullable=False),
        sa.Column('row_key', sa.String(40), nullable=False),
        sa.Column('facts', sa.JSON(), nullable=False),
        sa.Column('todo_id', _ID, sa.ForeignKey('todos.id', name='fk_sync_conflicts_todo_id_todos'), nullable=True),
        sa.Column('status', sa.String(16), nullable=False),
        sa.Column('created_at', models.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id', name='pk_sync_conflicts'),
        sa.UniqueConstraint('node_id', 'rule', 'row_key', name='uq_sync_conflicts_node_id_rule_row_key'),
    )
    op.create_index('ix_sync_conflicts_org_id', 'sync_conflicts', ['org_id'])
    op.create_index('ix_sync_conflicts_node_id', 'sync_conflicts', ['node_id'])
    op.add_column('nodes', sa.Column('up_seq', sa.BigInteger(), nullable=False, server_default='0'))
    op.add_column('nodes', sa.Column('pending_up', sa.BigInteger(), nullable=False, server_default='0'))
    op.add_column('nodes', sa.Column('pending_since', models.types.UTCDateTime(), nullable=True))
    op.add_column('node_state', sa.Column('id_block', sa.BigInteger(), nullable=True))
    op.add_column('node_state', sa.Column('up_acked', sa.BigInteger(), nullable=False, server_default='0'))
    op.add_column('node_state', sa.Column('down_cursor', sa.JSON(), nullable=True))
    op.add_column('node_state', sa.Column('epoch', sa.String(32), nullable=True))
    op.add_column('nodes', sa.Column('epoch', sa.String(32), nullable=True))


def downgrade() -> None:
    op.drop_column('nodes', 'epoch')
    op.drop_column('node_state', 'epoch')
    op.drop_column('node_state', 'down_cursor')
    op.drop_column('node_state', 'up_acked')
    op.drop_column('node_state', 'id_block')
    op.drop_column('nodes', 'pending_since')
    op.drop_column('nodes', 'pending_up')
    op.drop_column('nodes', 'up_seq')
    op.drop_index('ix_sync_conflicts_node_id', table_name='sync_conflicts')
    op.drop_index('ix_sync_conflicts_org_id', table_name='sync_conflicts')
    op.drop_table('sync_conflicts')
    op.drop_table('sync_applying')
    op.drop_table('sync_log')
