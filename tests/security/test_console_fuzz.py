"""schemathesis over every console route, signed in (session cookie and CSRF token) as a manager and as a
clerk: random paths, ids and form fields never make a 5xx (bounded and derandomized)."""

from __future__ import annotations

import os

import pytest

from tests.console.conftest import csrf_of, sign_in
from tests.fuzzing import fuzz_spec

EXAMPLES = int(os.environ.get("SCHEMA_EXAMPLES", "4"))


@pytest.mark.parametrize("member", ["赵经理", "小周"])
def test_console_routes_never_5xx(member, app, demo):
    client = app.test_client()
    sign_in(client, demo, member)
    token = csrf_of(client, "/console/")
    cookie = client.get_cookie("lz_console")
    assert cookie is not None
    # Sign-out is left out: it would end the session the rest of the run signs in with.
    seen, failures = fuzz_spec(app, {"X-CSRFToken": token}, EXAMPLES,
                               include=lambda path: path.startswith("/console") and path != "/console/logout",
                               cookies={"lz_console": cookie.value})
    assert not failures, "\n\n".join(f"{op}\n{msg}" for op, msg in failures.items())
    assert {"GET /console/", "POST /console/login/dev"} <= set(seen)


def test_the_fuzzers_headers_reach_the_pages_signed_in(app, demo):
    """The cookie and token the fuzzer sends open the pages (it does not fuzz the sign-in redirect)."""
    client = app.test_client()
    sign_in(client, demo, "赵经理")
    cookie = client.get_cookie("lz_console")
    assert cookie is not None
    stranger = app.test_client(use_cookies=False)
    page = stranger.get("/console/", headers={"Cookie": f"lz_console={cookie.value}"})
    assert page.status_code == 200 and "赵经理" in page.get_data(as_text=True)
