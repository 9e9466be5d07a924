"""schemathesis against the generated spec: no 5xx and no response that violates the schema, for every
endpoint, signed in as the demo's manager (bounded: a few examples per operation)."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

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
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    receive(session_factory, demo, actors, "20")
    schema = schemathesis.openapi.from_wsgi("/openapi/openapi.json", app)
    headers = as_("赵经理")
    checks = [not_a_server_error, response_schema_conformance]
    seen: list[str] = []
    failures: dict[str, str] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if not GROUPS[group](operation.path):
            continue
        seen.append(f"{operation.method.upper()} {operation.path}")

        @given(case=operation.as_strategy())
        @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def check(case):  # type: ignore[no-untyped-def]
            case.call_and_validate(headers={**(case.headers or {}), **headers}, checks=checks)

        try:
            check()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures[seen[-1]] = f"{type(exc).__name__}: {str(exc)[:1500]}"
    assert not failures, "\n\n".join(f"{op}\n{msg}" for op, msg in failures.items())
    assert seen and (group != "clerk_sync_my_me" or {"POST /api/v1/sync", "GET /api/v1/stock"} <= set(seen))
