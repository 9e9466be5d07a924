"""opening stock: account 3104 利润分配 and the 期初库存 mapping rule for organisations created before

Revision ID: 0e5a7c3b91d4
Revises: c0a1b2c3d4e5
Create Date: 2026-12-05 15:00:00

期初入库 documents (DocKind "opening") need no schema change: documents.kind is a non-native enum
of 16 characters without a CHECK constraint. Organisations created before get the equity account
the opening balance is credited to and the "opening.posted" rule (models.chart.DEFAULT_RULES), and
a new config version so that running processes reload their catalog snapshot.
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import models.types

revision: str = '0e5a7c3b91d4'
down_revision: str | Sequence[str] | None = 'c0a1b2c3d4e5'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')

# Copied, not imported: a migration must keep meaning what it meant when it was written.
# Account.category stores the enum's name (SQLAlchemy Enum, native_enum=False).
_ACCOUNT = ("3104", "利润分配", "EQUITY", "credit")
_RULE = ("opening.posted", "期初库存", {}, 0, [
    {"account": "1405", "side": "debit", "amount": "value", "memo": "期初库存"},
    {"account": "3104", "side": "credit", "amount": "value", "memo": "期初库存"}])

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
    bind = op.get_bind()
    now = datetime.now(UTC)
    code, name, category, side = _ACCOUNT
    event, rule_name, condition, priority, lines = _RULE
    for (org_id,) in bind.execute(sa.select(orgs.c.id)).all():
        have = set(bind.execute(sa.select(accounts.c.code).where(accounts.c.org_id == org_id)).scalars())
        if code not in have:
            bind.execute(accounts.insert().values(org_id=org_id, code=code, name=name, category=category,
                                                  normal_side=side, active=True))
        if bind.execute(sa.select(rules.c.id).where(rules.c.org_id == org_id, rules.c.event == event)).first() is None:
            new_id = bind.execute(rules.insert().values(
                org_id=org_id, event=event, name=rule_name, condition=condition, lines=lines, priority=priority,
                version=1, active=True, created_at=now).returning(rules.c.id)).scalar_one()
            bind.execute(rules.update().where(rules.c.id == new_id).values(family_id=new_id))
        bind.execute(orgs.update().where(orgs.c.id == org_id).values(config_version=uuid.uuid4().hex))


def downgrade() -> None:
    # The account stays when vouchers were posted to it (their lines name it); the rules go.
    op.execute(sa.delete(rules).where(rules.c.event == 'opening.posted'))
