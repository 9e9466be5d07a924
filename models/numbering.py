"""Human numbers (RK-SX-20261123-0007, 记-202611-00012) for ORM operations.

The posting writer's numbering: on PostgreSQL from the process's blocks (models.number_blocks; no
counter row is locked by the posting), on SQLite bumped in the posting's transaction (its one
writer serialises postings anyway). A posting that rolls back gives its number back either way.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from models.posting_writer import writer_for


def allocate(session: Session, org_id: int, series: str, period: str) -> int:
    """Return the next number of ``series`` in ``period`` (1, 2, …)."""
    return writer_for(session).allocate_now(org_id, series, period)
