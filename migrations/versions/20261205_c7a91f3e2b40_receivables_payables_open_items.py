"""receivables and payables: party credit terms, open-item matches, money receipts and payments

Revision ID: c7a91f3e2b40
Revises: b41c0e5a7d10
Create Date: 2026-12-05 07:00:00

Parties get credit terms (days, and a customer's credit limit); ``open_item_matches`` records
which credit (a payment, a reversal) was set against which charge on a control account; voucher
lines carry their voucher's date, and two indexes let aging read one org's control-account lines
up to a day, and a party's sub-ledger, without touching the rest. Organisations created before the
收款单 / 付款单 events get their default mapping rules (models.chart.MONEY_RULES), and a new
config version so that running processes reload their catalog snapshot.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = 'c7a91f3e2b40'
down_revision: str | Sequence[str] | None = 'b41c0e5a7d10'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

# Copied, not imported: a migration must keep meaning what it meant when it was written.
_MONEY_RULES = [
    ("money.received", "现金收款", {"via": "cash"}, 10, [
        {"account": "1001", "side": "debit", "amount": "amount", "memo": "库存现金"},
        {"account": "1122", "side": "credit", "amount": "amount", "memo": "应收账款"}]),
    ("money.received", "银行收款", {}, 0, [
        {"account": "1002", "side": "debit", "amount": "amount", "memo": "银行存款"},
        {"account": "1122", "side": "credit", "amount": "amount", "memo": "应收账款"}]),
    ("money.paid", "现金付款", {"via": "cash"}, 10, [
        {"account": "2202", "side": "debit", "amount": "amount", "memo": "应付账款"},
        {"account": "1001", "side": "credit", "amount": "amount", "memo": "库存现金"}]),
    ("money.paid", "银行付款", {}, 0, [
        {"account": "2202", "side": "debit", "amount": "amount", "memo": "应付账款"},
        {"account": "1002", "side": "credit", "amount": "amount", "memo": "银行存款"}]),
]

orgs = sa.table('orgs', sa.column('id', _ID), sa.column('config_version', sa.String(32)))
rules = sa.table(
    'mapping_rules', sa.column('id', _ID), sa.column('org_id', _ID), sa.column('event', sa.String(48)),
    sa.column('name', sa.String(64)), sa.column('condition', sa.JSON), sa.column('lines', sa.JSON),
    sa.column('priority', sa.Integer), sa.column('version', sa.Integer), sa.column('family_id', _ID),
    sa.column('active', sa.Boolean), sa.column('created_at', models.types.UTCDateTime()))


def upgrade() -> None:
    # Plain ADD COLUMNs (no batch copy: on SQLite that would drop a table others refer to).
    op.add_column('parties', sa.Column('credit_days', sa.Integer(), server_default='0', nullable=False))
    op.add_column('parties', sa.Column('credit_limit', models.types.ScaledDecimal(18, 2), nullable=True))
    op.create_table(
        'open_item_matches',
        sa.Column('id', _ID, primary_key=True, autoincrement=True),
        sa.Column('org_id', _ID, sa.ForeignKey('orgs.id'), nullable=False),
        sa.Column('account_code', sa.String(16), nullable=False),
        sa.Column('party_id', _ID, sa.ForeignKey('parties.id'), nullable=True),
        sa.Column('charge_line_id', _ID, sa.ForeignKey('voucher_lines.id'), nullable=False),
        sa.Column('credit_line_id', _ID, sa.ForeignKey('voucher_lines.id'), nullable=False),
        sa.Column('amount', models.types.ScaledDecimal(18, 2), nullable=False),
        sa.Column('matched_on', sa.Date(), nullable=False),
        sa.Column('charge_on', sa.Date(), nullable=False),
        sa.Column('created_by', _ID, sa.ForeignKey('members.id'), nullable=True),
        sa.Column('created_at', models.types.UTCDateTime(), nullable=False),
        sa.CheckConstraint('amount > 0', name='ck_open_item_matches_positive'),
    )
    op.create_index('ix_open_item_matches_org_id', 'open_item_matches', ['org_id'])
    op.create_index('ix_open_item_matches_charge_line_id', 'open_item_matches', ['charge_line_id'])
    op.create_index('ix_open_item_matches_credit_line_id', 'open_item_matches', ['credit_line_id'])
    # Each line carries its voucher's date (aging by day reads the lines alone), backfilled here.
    op.add_column('voucher_lines', sa.Column('voucher_date', sa.Date(), nullable=True))
    op.execute("UPDATE voucher_lines SET voucher_date = "
               "(SELECT vouchers.voucher_date FROM vouchers WHERE vouchers.id = voucher_lines.voucher_id)")
    op.create_index('ix_voucher_lines_org_account_date', 'voucher_lines', ['org_id', 'account_code', 'voucher_date'],
                    postgresql_include=['party_id', 'debit', 'credit'])
    op.create_index('ix_voucher_lines_org_party_account', 'voucher_lines', ['org_id', 'party_id', 'account_code'])

    bind = op.get_bind()
    now = datetime.now(UTC)
    for (org_id,) in bind.execute(sa.select(orgs.c.id)).all():
        have = {e for (e,) in bind.execute(sa.select(rules.c.event).where(
            rules.c.org_id == org_id, rules.c.event.in_(['money.received', 'money.paid'])))}
        for event, name, condition, priority, lines in _MONEY_RULES:
            if event in have:
                continue
            new_id = bind.execute(rules.insert().values(
                org_id=org_id, event=event, name=name, condition=condition, lines=lines, priority=priority,
                version=1, active=True, created_at=now).returning(rules.c.id)).scalar_one()
            bind.execute(rules.update().where(rules.c.id == new_id).values(family_id=new_id))
        bind.execute(orgs.update().where(orgs.c.id == org_id).values(config_version=uuid.uuid4().hex))


def downgrade() -> None:
    op.execute(sa.delete(rules).where(rules.c.event.in_(['money.received', 'money.paid'])))
    op.drop_index('ix_voucher_lines_org_party_account', table_name='voucher_lines')
    op.drop_index('ix_voucher_lines_org_account_date', table_name='voucher_lines')
    op.drop_column('voucher_lines', 'voucher_date')
    op.drop_table('open_item_matches')
    op.drop_column('parties', 'credit_limit')
    op.drop_column('parties', 'credit_days')
