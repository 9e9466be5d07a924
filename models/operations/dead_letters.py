"""Replay dead letters: put handler runs that gave up back in line (the relay retries them now).

The relay's own ``workflows.relay.replay_dead`` serves operators across organisations; this is the
member-facing operation behind 首页 and the workflows API: one organisation, with a permission check.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from models.actor import Actor, Permission
from models.audit import record_audit
from models.base import utcnow
from models.errors import InvalidState, NotFound, ValidationError
from models.event_log import HandlerRun, RunStatus
from models.idempotency import idempotent

#: One request replays at most this many runs (a backlog is replayed in pages).
MAX_RUNS = 500


@dataclass(frozen=True)
class ReplayDeadLetters:
    run_ids: tuple[int, ...]


@dataclass(frozen=True)
class ReplayResult:
    replayed: int


@idempotent("dead_letters.replay")
def replay_dead_letters(session: Session, actor: Actor, cmd: ReplayDeadLetters) -> ReplayResult:
    """Put the organisation's dead runs back in line (due now, attempts reset).

    Requires Permission.ROLES (directors, admins): members with Permission.RULES read dead letters,
    but putting work back in line stays with those who may change the automation (issue 10). An id
    of another organisation (or none at all) is NotFound; a run that is no longer dead (already
    replayed) is refused, so a double submit changes nothing twice.
    """
    actor.require(Permission.ROLES)
    ids = sorted(set(cmd.run_ids))
    if not ids or len(ids) > MAX_RUNS:
        raise ValidationError(f"请选择 1 到 {MAX_RUNS} 条失败记录", field="run_ids")
    runs = list(session.scalars(select(HandlerRun).where(
        HandlerRun.id.in_(ids), HandlerRun.org_id == actor.org_id).with_for_update()))
    if len(runs) != len(ids):
        raise NotFound("找不到该失败记录", run_ids=[i for i in ids if i not in {r.id for r in runs}])
    if any(r.status != RunStatus.DEAD for r in runs):
        raise InvalidState("该记录已重放或已处理，不能再重放",
                           run_ids=[r.id for r in runs if r.status != RunStatus.DEAD])
    now = utcnow()
    for run in runs:
        record_audit(session, actor, "dead_letters.replay", "handler_run", run.id,
                     before={"status": run.status.value, "attempts": run.attempts},
                     after={"status": RunStatus.RETRY.value, "attempts": 0})
        run.status, run.attempts, run.next_attempt_at = RunStatus.RETRY, 0, now
    return ReplayResult(len(runs))
