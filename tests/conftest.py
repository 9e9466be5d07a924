"""Shared fixtures: a migrated database (SQLite by default, PostgreSQL with TEST_DB=postgres).

Each test gets its own demo organisation, so tests share one database without cleaning it:
organisations never see each other's rows (that is the tenancy rule under test, too).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, delete
from sqlalchemy.orm import Session, sessionmaker

from app.cli import migrate
from models import node
from models.actor import Actor, load_actor
from models.db import make_engine, make_session_factory, recreate_postgres_database
from models.demo import DemoOrg, seed_demo
from models.nodes import NodeState
from models.uow import run

ROOT = Path(__file__).resolve().parent.parent
PG_ADMIN_URL = os.environ.get("TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
#: In CI (or when asked) a missing service is a failure, never a skip.
REQUIRE_SERVICES = os.environ.get("CI") == "true" or os.environ.get("LIUZHUAN_REQUIRE_SERVICES") == "1"


def service_unavailable(what: str, exc: BaseException) -> None:
    """Fail under CI, skip on a developer machine, when a backing service is missing."""
    message = f"{what} is not reachable: {exc}"
    if REQUIRE_SERVICES:
        pytest.fail(message)
    pytest.skip(message)


def fresh_postgres_database(name: str) -> str:
    """Drop and create a PostgreSQL database; return its URL."""
    return recreate_postgres_database(PG_ADMIN_URL, name)


def test_database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Return the URL of a freshly migrated test database of the selected kind."""
    if os.environ.get("TEST_DB", "sqlite") == "postgres":
        try:
            url = fresh_postgres_database(f"liuzhuan_test_{os.getpid()}")
        except Exception as exc:  # any connection failure means "service missing"
            service_unavailable("PostgreSQL", exc)
    else:
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'test.db'}"
    migrate(url)
    return url


@pytest.fixture
def scratch_database_url(tmp_path: Path, request: pytest.FixtureRequest) -> str:
    """An empty database of the selected kind, not migrated, dropped afterwards (for migration tests)."""
    if os.environ.get("TEST_DB", "sqlite") != "postgres":
        return f"sqlite:///{tmp_path / 'scratch.db'}"
    name = f"liuzhuan_scratch_{os.getpid()}"
    try:
        url = fresh_postgres_database(name)
    except Exception as exc:  # any connection failure means "service missing"
        service_unavailable("PostgreSQL", exc)
    request.addfinalizer(lambda: recreate_postgres_database(PG_ADMIN_URL, name, drop_only=True))
    return url


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    return test_database_url(tmp_path_factory)


@pytest.fixture(scope="session")
def engine(database_url: str) -> Iterator[Engine]:
    eng = make_engine(database_url)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def session_factory(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


@pytest.fixture
def demo(session_factory: sessionmaker[Session]) -> DemoOrg:
    """A fresh demo tea co-operative, unique to this test."""
    return run(session_factory, seed_demo, f"t-{uuid.uuid4().hex[:12]}")


@pytest.fixture
def actors(session_factory: sessionmaker[Session], demo: DemoOrg) -> dict[str, Actor]:
    """The demo's people as actors: 王阿姨 (farmer), 小周 (clerk at 绍兴), 老孙 (storekeeper at
    总仓 and 门店), 赵经理 (manager), 钱总监 (director), 吴会计 (finance), and "系统"."""
    with session_factory() as session:
        found = {name: load_actor(session, member_id) for name, member_id in demo.members.items()}
    found["系统"] = Actor.system_actor(demo.org_id)
    return found


@pytest.fixture
def at_node() -> Iterator[str]:
    """This process runs as edge node N1 for the test (headquarters again afterwards)."""
    node.configure("N1", block=7)
    yield "N1"
    node.configure(node.SERVER)


@pytest.fixture
def node_synced(session_factory: sessionmaker[Session], at_node: str) -> Iterator[Callable[[datetime | None], None]]:
    """At node N1: set when it last synced with headquarters (None: never). The node's state row is
    global (not per org), so it is removed again after the test."""
    def clear(session: Session) -> None:
        session.execute(delete(NodeState).where(NodeState.node_code == at_node))

    def synced(at: datetime | None) -> None:
        with session_factory.begin() as session:
            clear(session)
            if at is not None:
                session.add(NodeState(node_code=at_node, last_synced_at=at, hq_time=at))

    yield synced
    with session_factory.begin() as session:
        clear(session)
