"""Replaying dead letters: the organisation's own, by a director or admin (Permission.ROLES), once."""

from __future__ import annotations

import uuid

import pytest

from models.demo import seed_demo
from models.errors import InvalidState, NotFound, PermissionDenied, ValidationError
from models.event_log import HandlerRun, RunStatus
from models.operations.dead_letters import ReplayDeadLetters, replay_dead_letters
from models.uow import run
from tests.console import today_setup as ts
from tests.security.conftest import rows


def _status(session_factory, run_id):
    with session_factory() as s:
        r = s.get_one(HandlerRun, run_id)
        return r.status, r.attempts


def test_a_director_replays_a_dead_letter_once(session_factory, demo, actors):
    dead = ts.dead_letter(session_factory, demo)
    result = run(session_factory, replay_dead_letters, actors["钱总监"], ReplayDeadLetters((dead,)))
    assert result.replayed == 1 and _status(session_factory, dead) == (RunStatus.RETRY, 0)
    with pytest.raises(InvalidState):  # no longer dead: a second replay is refused
        run(session_factory, replay_dead_letters, actors["钱总监"], ReplayDeadLetters((dead,)))


def test_the_same_key_replays_the_first_answer(session_factory, demo, actors):
    dead = ts.dead_letter(session_factory, demo)
    key = uuid.uuid4().hex
    first = run(session_factory, replay_dead_letters, actors["钱总监"], ReplayDeadLetters((dead,)), idempotency_key=key)
    again = run(session_factory, replay_dead_letters, actors["钱总监"], ReplayDeadLetters((dead,)), idempotency_key=key)
    assert first == again and first.replayed == 1


@pytest.mark.parametrize("name", ["小周", "老孙", "吴会计", "赵经理"])
def test_members_without_roles_are_refused(session_factory, engine, demo, actors, name):
    dead = ts.dead_letter(session_factory, demo)
    before = rows(engine)
    with pytest.raises(PermissionDenied):
        run(session_factory, replay_dead_letters, actors[name], ReplayDeadLetters((dead,)))
    assert rows(engine) == before and _status(session_factory, dead) == (RunStatus.DEAD, 8)


def test_another_orgs_dead_letter_is_not_found(session_factory, engine, demo, actors):
    other = run(session_factory, seed_demo, f"t-{uuid.uuid4().hex[:12]}")
    foreign = ts.dead_letter(session_factory, other)
    mine = ts.dead_letter(session_factory, demo)
    before = rows(engine)
    with pytest.raises(NotFound):  # all or nothing: the own one is not replayed either
        run(session_factory, replay_dead_letters, actors["钱总监"], ReplayDeadLetters((mine, foreign)))
    assert rows(engine) == before and _status(session_factory, foreign)[0] == RunStatus.DEAD
    assert _status(session_factory, mine)[0] == RunStatus.DEAD


def test_an_empty_request_is_refused(session_factory, demo, actors):
    with pytest.raises(ValidationError):
        run(session_factory, replay_dead_letters, actors["钱总监"], ReplayDeadLetters(()))
