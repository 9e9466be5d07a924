"""schemathesis over the app's generated spec: one loop for every fuzz test (bounded, derandomized)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings


def fuzz_spec(app: Any, headers: dict[str, str], examples: int,
              include: Callable[[str], bool] = lambda _path: True,
              cookies: dict[str, str] | None = None) -> tuple[list[str], dict[str, str]]:
    """Fuzz every operation whose path ``include`` accepts; return (operations seen, failures by operation).

    Checks: no 5xx, and every answer conforms to the spec. Every operation's failure is collected,
    so one run reports them all.
    """
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance

    schema = schemathesis.openapi.from_wsgi("/openapi/openapi.json", app)
    checks = [not_a_server_error, response_schema_conformance]
    seen: list[str] = []
    failures: dict[str, str] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if not include(operation.path):
            continue
        seen.append(f"{operation.method.upper()} {operation.path}")

        @given(case=operation.as_strategy())
        @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            extra = {"cookies": cookies} if cookies else {}
            # identity: the app compresses large answers (Flask-Compress); the checks read the body as sent.
            case.call_and_validate(headers={**(case.headers or {}), "Accept-Encoding": "identity", **headers},
                                   checks=checks, **extra)

        try:
            check()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures[seen[-1]] = f"{type(exc).__name__}: {str(exc)[:1500]}"
    return seen, failures
