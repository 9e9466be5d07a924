"""schemathesis over the WHOLE spec (planning, workflows and the platform callbacks included), signed in
as a manager and as a farmer: no 5xx, every answer conforms to the spec (bounded and derandomized)."""

from __future__ import annotations

import os

import pytest

from tests.fuzzing import fuzz_spec
from tests.miniprogram_api.fixtures_3b import receive

#: Per operation and member; SCHEMA_EXAMPLES=50 for a deeper run.
EXAMPLES = int(os.environ.get("SCHEMA_EXAMPLES", "4"))


@pytest.mark.parametrize("member", ["赵经理", "王阿姨"])
def test_whole_spec_no_5xx_and_conforming(member, app, demo, actors, session_factory, as_):
    receive(session_factory, demo, actors, "20")
    seen, failures = fuzz_spec(app, as_(member), EXAMPLES)
    assert not failures, "\n\n".join(f"{op}\n{msg}" for op, msg in failures.items())
    assert {"POST /api/v1/planning/overrides", "GET /api/v1/workflows/rules", "POST /bot/wechat",
            "POST /cards/dingtalk/callback"} <= set(seen)
    assert len(seen) >= 75
