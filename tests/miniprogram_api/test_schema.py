"""schemathesis against the generated spec: no 5xx and no response that violates the schema, for every
endpoint, signed in as the demo's manager (bounded: a few examples per operation)."""

from __future__ import annotations

import os

import pytest

from tests.fuzzing import fuzz_spec
from tests.miniprogram_api.fixtures_3b import fx_app, fx_as, receive  # noqa: F401

#: Per operation; SCHEMA_EXAMPLES=50 for a deeper run.
EXAMPLES = int(os.environ.get("SCHEMA_EXAMPLES", "8"))


#: 3A's login, quick-entry and delivery-note operations vs everything else; the ids let
#: `-k "not login and not intake and not delivery"` pick the clerk/manager half alone.
THEIRS = ("/auth", "/intake", "/delivery", "/notes", "/media")
#: Fuzzed by tests/security/test_schemathesis.py (the whole spec, as a manager and as a farmer).
ELSEWHERE = ("/planning/", "/workflows/", "/bot/", "/cards/")
GROUPS = {
    "clerk_sync_my_me": lambda path: not any(w in path for w in THEIRS + ELSEWHERE),
    "login_intake_delivery": lambda path: any(w in path for w in THEIRS),
}


@pytest.mark.parametrize("group", list(GROUPS))
def test_every_operation_conforms_to_the_spec(group, app, demo, actors, session_factory, as_):
    receive(session_factory, demo, actors, "20")
    seen, failures = fuzz_spec(app, as_("赵经理"), EXAMPLES, include=GROUPS[group])
    assert not failures, "\n\n".join(f"{op}\n{msg}" for op, msg in failures.items())
    assert seen and (group != "clerk_sync_my_me" or {"POST /api/v1/sync", "GET /api/v1/stock"} <= set(seen))
