"""Engines and sessions: PostgreSQL in production, SQLite (WAL) as the embedded default."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from models import id_blocks, number_blocks


def make_engine(url: str, *, pool_size: int = 20, echo: bool = False) -> Engine:
    """Create an engine tuned for ledger postings on either backend."""
    id_blocks.install()
    if url.startswith("sqlite"):
        engine = create_engine(
            url, echo=echo, connect_args={"timeout": 30, "check_same_thread": False}
        )
        _configure_sqlite(engine)
        return engine
    # One connection per posting (numbers are allocated on it too, see models.numbering); the
    # overflow is for bursts. No pre-ping: it cost a round trip per checkout; a connection the
    # server dropped fails its first statement, SQLAlchemy invalidates the pool, and
    # models.uow.run retries the operation on a fresh one.
    return create_engine(
        url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control away from the driver so we can say BEGIN IMMEDIATE.
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.execute("PRAGMA busy_timeout=30000")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front: two postings never both read a balance
        # and then both write it. Readers may ask for DEFERRED to run beside a writer.
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Return a session factory; the caller of an operation commits."""
    return sessionmaker(engine, expire_on_commit=False)


def read_only(engine: Engine) -> Engine:
    """Return the engine for queries that write nothing (no write lock on SQLite)."""
    return engine.execution_options(sqlite_begin="DEFERRED")


def recreate_postgres_database(admin_url: str, name: str, *, drop_only: bool = False) -> str:
    """Drop (and unless ``drop_only`` create) database ``name`` on ``admin_url``'s server; return its URL.

    For tests and benchmarks, which each want a database of their own.
    """
    url = admin_url.rsplit("/", 1)[0] + f"/{name}"
    number_blocks.forget(make_url(url).render_as_string(hide_password=False))  # blocks of the old database
    admin = make_engine(admin_url).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            if not drop_only:
                conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    return url
