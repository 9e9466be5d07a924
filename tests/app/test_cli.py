"""`python -m app.cli setup`: migrate and load the demo once, whatever the backend."""

from __future__ import annotations

import os

from sqlalchemy import func, select

from app.cli import setup
from app.settings import Settings
from models.db import make_engine, make_session_factory
from models.documents import Document
from models.invariants import check_all
from models.org import Org


def test_setup_is_repeatable_and_leaves_consistent_books(tmp_path):
    if os.environ.get("TEST_DB") == "postgres":
        from tests.conftest import fresh_postgres_database

        url = fresh_postgres_database(f"liuzhuan_cli_{os.getpid()}")
    else:
        url = f"sqlite:///{tmp_path / 'cli.db'}"
    settings = Settings.from_env({"DATABASE_URL": url, "LIUZHUAN_VAR_DIR": str(tmp_path)})
    setup(settings)
    setup(settings)  # second run must not duplicate anything
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        orgs = list(session.scalars(select(Org)))
        assert [o.code for o in orgs] == ["demo-tea"]
        assert session.scalar(select(func.count()).select_from(Document)) == 2
        assert check_all(session, orgs[0].id).ok
    engine.dispose()
