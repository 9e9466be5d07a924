"""Record each organisation's consistency checks (hourly, from the beat), so the event-health board can
draw their pass rate over time instead of only now. A system job: no member calls it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.event_log import ConsistencyCheckRun
from models.invariants import check_all
from models.org import Org


@dataclass(frozen=True)
class CheckRun:
    org_id: int
    checks_total: int
    checks_passed: int


def record_consistency_checks(session: Session, org_id: int, now: datetime) -> CheckRun:
    """Run one organisation's consistency checks and keep the counts (names of failing checks too)."""
    results = check_all(session, org_id).checks
    failing = {name: len(problems) for name, problems in results.items() if problems}
    session.add(ConsistencyCheckRun(org_id=org_id, checks_total=len(results),
                                    checks_passed=len(results) - len(failing), problems=failing, created_at=now))
    return CheckRun(org_id, len(results), len(results) - len(failing))


def org_ids(session: Session) -> list[int]:
    """Every organisation (the beat checks each in its own transaction)."""
    return list(session.scalars(select(Org.id).order_by(Org.id)))
