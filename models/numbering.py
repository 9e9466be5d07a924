"""Human numbers (RK-SX-20261123-0007, 记-202611-00012), allocated in the posting's own transaction.

The counter row is bumped on the posting's connection and stays locked until it commits, so two
postings of one series queue there for the rest of the shorter one. It used to be bumped on a
separate autocommit connection (no queue), but once the posting writer (which must allocate on its
own connection) and that side connection met on one counter, a transaction could wait on itself
through the side connection — a deadlock PostgreSQL cannot see. In one transaction every wait is
visible: a cycle is reported as a deadlock (40P01) and ``models.uow.run`` retries it. A posting
that rolls back gives its number back (SQLite and PostgreSQL alike).
"""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from models.documents import NumberSequence


def allocate(session: Session, org_id: int, series: str, period: str) -> int:
    """Return the next number of ``series`` in ``period`` (1, 2, …)."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    stmt = insert(NumberSequence).values(org_id=org_id, series=series, period=period, last=1)
    upsert = stmt.on_conflict_do_update(
        index_elements=["org_id", "series", "period"], set_={"last": NumberSequence.last + 1}
    ).returning(NumberSequence.last)
    return session.execute(upsert).scalar_one()
