"""farmer settlements keep what is still open of their receipt's payables

The cash forecast's farmer money was a join of every waiting settlement to every open payable line
of the org, grouped per settlement (130–190 ms at 100,000 documents); with the open amount kept on
the settlement (models.subledger.refresh_farmer_payables) it is a sum over one table.

Revision ID: a7d3f9c2e5b8
Revises: c4e8a2d6f1b3
Create Date: 2026-12-06 00:40:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = 'a7d3f9c2e5b8'
down_revision: str | Sequence[str] | None = 'c4e8a2d6f1b3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: Each settlement's receipt: its open lines on the payable accounts (应付账款 2202, 预付账款 1123),
#: credit less debit, less what was matched against each (stored units on either database: the
#: same arithmetic on the same columns), grouped once (a hash join, not a subquery per settlement
#: whose plan would depend on statistics). Settlements with no open line keep the default 0.
BACKFILL = """
UPDATE farmer_settlements SET payable_open = open_now.amount
FROM (SELECT vl.org_id, vl.document_id,
             SUM((vl.credit - vl.debit) - COALESCE(m.matched, 0)) AS amount
      FROM voucher_lines vl
      LEFT JOIN (SELECT charge_line_id, SUM(amount) AS matched FROM open_item_matches
                 GROUP BY charge_line_id) m ON m.charge_line_id = vl.id
      WHERE vl.account_code IN ('2202', '1123') AND vl.closed_on = '9999-12-31'
        AND vl.document_id IS NOT NULL
      GROUP BY vl.org_id, vl.document_id) AS open_now
WHERE open_now.org_id = farmer_settlements.org_id AND open_now.document_id = farmer_settlements.receipt_id
"""


def upgrade() -> None:
    with op.batch_alter_table('farmer_settlements') as batch:
        batch.add_column(sa.Column('payable_open', models.types.ScaledDecimal(18, 2), nullable=False,
                                   server_default='0'))
    op.execute(BACKFILL)


def downgrade() -> None:
    with op.batch_alter_table('farmer_settlements') as batch:
        batch.drop_column('payable_open')
