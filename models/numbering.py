"""Human numbers (RK-SX-20261123-0007, 记-202611-00012) that do not serialise postings.

On PostgreSQL the counter is bumped on its own short autocommit connection, so its row lock
is held for one statement rather than until the posting commits (Odoo's concurrent
validations queue behind exactly that lock). The price: a posting that rolls back leaves a
gap, as a PostgreSQL sequence does. On SQLite the posting already holds the database's
single write lock, so the counter is bumped in the posting's own transaction.
"""

from __future__ import annotations

from sqlalchemy import Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models.documents import NumberSequence


def allocate(session: Session, org_id: int, series: str, period: str) -> int:
    """Return the next number of ``series`` in ``period`` (1, 2, …)."""
    bind = session.get_bind()
    if bind.dialect.name == "sqlite":
        insert = sqlite.insert(NumberSequence).values(org_id=org_id, series=series, period=period, last=1)
        stmt = insert.on_conflict_do_update(
            index_elements=["org_id", "series", "period"], set_={"last": NumberSequence.last + 1}
        ).returning(NumberSequence.last)
        return session.execute(stmt).scalar_one()
    pg_insert = postgresql.insert(NumberSequence).values(org_id=org_id, series=series, period=period, last=1)
    pg = pg_insert.on_conflict_do_update(
        index_elements=["org_id", "series", "period"], set_={"last": NumberSequence.last + 1}
    ).returning(NumberSequence.last)
    engine = bind.engine if not isinstance(bind, Engine) else bind
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        return conn.execute(pg).scalar_one()
