"""VAT basics: rates on items and parties, tax per document line, invoice numbers, 2221 sub-accounts

Revision ID: ddd2bf2e58cf
Revises: 3d5e8a1c9f27
Create Date: 2026-12-05 09:00:00

Items and parties get an optional VAT rate (models.vat: line > party > item > org default);
document lines keep the rate applied and their tax; documents an invoice number (发票号码), and an
index by (org, kind, business time) for the VAT summary of a month. Every organisation gets the
应交增值税 sub-accounts 222101 (进项税额) and 222102 (销项税额), and each of its active
receipt.posted / shipment.posted mapping rules that books the tax to the parent 2221 a new version
that books it to the sub-account (the old version stays, inactive, for the vouchers it posted; posted
vouchers are not re-posted). A new config version makes running processes reload their snapshot.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = 'ddd2bf2e58cf'
down_revision: str | Sequence[str] | None = '3d5e8a1c9f27'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

# Copied, not imported: a migration must keep meaning what it meant when it was written.
# Account.category stores the enum's name (SQLAlchemy Enum, native_enum=False).
_ACCOUNTS = [("222101", "应交增值税(进项税额)"), ("222102", "应交增值税(销项税额)")]
_SUB_ACCOUNT = {"receipt.posted": "222101", "shipment.posted": "222102"}

orgs = sa.table('orgs', sa.column('id', _ID), sa.column('config_version', sa.String(32)))
accounts = sa.table(
    'accounts', sa.column('id', _ID), sa.column('org_id', _ID), sa.column('code', sa.String(16)),
    sa.column('name', sa.String(64)), sa.column('category', sa.String(16)), sa.column('normal_side', sa.String(6)),
    sa.column('active', sa.Boolean))
rules = sa.table(
    'mapping_rules', sa.column('id', _ID), sa.column('org_id', _ID), sa.column('event', sa.String(48)),
    sa.column('name', sa.String(64)), sa.column('condition', sa.JSON), sa.column('lines', sa.JSON),
    sa.column('priority', sa.Integer), sa.column('version', sa.Integer), sa.column('family_id', _ID),
    sa.column('active', sa.Boolean), sa.column('created_at', models.types.UTCDateTime()))


def upgrade() -> None:
    # Plain ADD COLUMNs (no batch copy: on SQLite that would drop a table others refer to).
    op.add_column('items', sa.Column('vat_rate', models.types.ScaledDecimal(6, 4), nullable=True))
    op.add_column('parties', sa.Column('vat_rate', models.types.ScaledDecimal(6, 4), nullable=True))
    op.add_column('documents', sa.Column('invoice_number', sa.String(32), nullable=True))
    op.add_column('document_lines', sa.Column('tax_rate', models.types.ScaledDecimal(6, 4), nullable=True))
    op.add_column('document_lines', sa.Column('tax_amount', models.types.ScaledDecimal(18, 2), server_default='0',
                                              nullable=False))
    op.create_index('ix_documents_org_kind_time', 'documents', ['org_id', 'kind', 'business_time'])

    bind = op.get_bind()
    now = datetime.now(UTC)
    for (org_id,) in bind.execute(sa.select(orgs.c.id)).all():
        have = set(bind.execute(sa.select(accounts.c.code).where(accounts.c.org_id == org_id)).scalars())
        for code, name in _ACCOUNTS:
            if code not in have:
                bind.execute(accounts.insert().values(org_id=org_id, code=code, name=name, category='LIABILITY',
                                                      normal_side='credit', active=True))
        found = bind.execute(sa.select(rules).where(
            rules.c.org_id == org_id, rules.c.active.is_(True), rules.c.event.in_(list(_SUB_ACCOUNT)))).mappings().all()
        for rule in found:
            sub = _SUB_ACCOUNT[rule['event']]
            lines = [dict(line, account=sub) if line.get('account') == '2221' and line.get('amount') == 'tax'
                     else dict(line) for line in rule['lines']]
            if lines == list(rule['lines']):
                continue  # books no tax to 2221 (a farmer's receipt, or a rule someone already changed)
            bind.execute(rules.update().where(rules.c.id == rule['id']).values(active=False))
            bind.execute(rules.insert().values(
                org_id=org_id, event=rule['event'], name=rule['name'], condition=rule['condition'], lines=lines,
                priority=rule['priority'], version=rule['version'] + 1, family_id=rule['family_id'] or rule['id'],
                active=True, created_at=now))
        bind.execute(orgs.update().where(orgs.c.id == org_id).values(config_version=uuid.uuid4().hex))


def downgrade() -> None:
    bind = op.get_bind()
    # The sub-account versions go; the versions they replaced are active again.
    for rule in bind.execute(sa.select(rules).where(rules.c.active.is_(True),
                                                    rules.c.event.in_(list(_SUB_ACCOUNT)))).mappings().all():
        if any(line.get('account') in ('222101', '222102') for line in rule['lines']) and rule['version'] > 1:
            bind.execute(rules.update().where(
                rules.c.family_id == rule['family_id'], rules.c.version == rule['version'] - 1).values(active=True))
            bind.execute(rules.update().where(rules.c.id == rule['id']).values(active=False))
    op.drop_index('ix_documents_org_kind_time', table_name='documents')
    op.drop_column('document_lines', 'tax_amount')
    op.drop_column('document_lines', 'tax_rate')
    op.drop_column('documents', 'invoice_number')
    op.drop_column('parties', 'vat_rate')
    op.drop_column('items', 'vat_rate')
