"""Alembic environment: the URL comes from -x url=…, else DATABASE_URL, else the embedded default."""

from __future__ import annotations

from alembic import context

import models
from app.settings import Settings
from models.db import make_engine

config = context.config
url = context.get_x_argument(as_dictionary=True).get("url") or Settings.from_env().database_url


def run_migrations_online() -> None:
    engine = make_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=models.Base.metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            user_module_prefix="models.types.",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
