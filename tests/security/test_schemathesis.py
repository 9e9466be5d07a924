"""schemathesis over the WHOLE spec (planning, workflows and the platform callbacks included), signed in
as a manager and as a farmer: no 5xx, every answer conforms to the spec (bounded and derandomized)."""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from tests.miniprogram_api.fixtures_3b import receive

#: Per operation and member; SCHEMA_EXAMPLES=50 for a deeper run.
EXAMPLES = int(os.environ.get("SCHEMA_EXAMPLES", "4"))


@pytest.mark.parametrize("member", ["赵经理", "王阿姨"])
def test_whole_spec_no_5xx_and_conforming(member, app, demo, actors, session_factory, as_):
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    receive(session_factory, demo, actors, "20")
    schema = schemathesis.openapi.from_wsgi("/openapi/openapi.json", app)
    headers = as_(member)
    checks = [not_a_server_error, response_schema_conformance]
    seen: list[str] = []
    failures: dict[str, str] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
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
    assert {"POST /api/v1/planning/overrides", "GET /api/v1/workflows/rules", "POST /bot/wechat",
            "POST /cards/dingtalk/callback"} <= set(seen)
    assert len(seen) >= 75
