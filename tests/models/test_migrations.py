"""Migrations and models agree (the equivalent of ``alembic check``) on the backend under test."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

import models
from models.base import NAMING_CONVENTION

ROOT = Path(__file__).resolve().parents[2]


def _diff(engine, metadata):
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "compare_type": True,
            "compare_server_default": True,
            "render_as_batch": conn.dialect.name == "sqlite",
            "user_module_prefix": "models.types.",
        })
        return compare_metadata(context, metadata)


def test_database_is_at_every_head(engine):
    """The test database carries every revision (branches from parallel work included)."""
    script = ScriptDirectory.from_config(Config(str(ROOT / "alembic.ini")))
    with engine.connect() as conn:
        assert set(MigrationContext.configure(conn).get_current_heads()) == set(script.get_heads())


def test_migrations_match_models(engine):
    """No table, column, type, nullability, index, unique or foreign key differs (no exceptions needed)."""
    diff = _diff(engine, models.Base.metadata)
    assert diff == [], "\n".join(map(repr, diff))


def test_the_comparison_does_see_differences(engine):
    """Guard the guard: a column the migrations lack and a changed type are both reported."""
    changed = sa.MetaData(naming_convention=NAMING_CONVENTION)
    for table in models.Base.metadata.sorted_tables:
        table.to_metadata(changed)
    changed.tables["orgs"].append_column(sa.Column("not_migrated", sa.String(8), nullable=True))
    changed.tables["parties"].c.phone.type = sa.String(99)
    diff = _diff(engine, changed)
    kinds = {(d[0], d[2], d[3].name) if d[0] == "add_column" else None for d in diff if isinstance(d, tuple)}
    assert ("add_column", "orgs", "not_migrated") in kinds
    modified = [d for d in diff if isinstance(d, list)]
    assert any(op[0] == "modify_type" and op[2:4] == ("parties", "phone") for ops in modified for op in ops)
