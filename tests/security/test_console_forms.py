"""The console's one form-id parser (console.forms): a mangled request_id is refused with the same Chinese
message on every section, and writes nothing; a mangled id in a form or a URL is refused, never a 500."""

from __future__ import annotations

import pytest

from tests.console import conftest as console_fixtures
from tests.console.conftest import post
from tests.security.conftest import rows

console_app = console_fixtures.console_app
console_as = console_fixtures.console_as

STALE = "表单已失效，请刷新页面后重试"
JUNK_IDS = ["<script>", "1e30", "g" * 32, "0" * 33]


def _said(client, response, page: str) -> str:
    """What the member reads after the post: the page itself, or the page it sent them back to."""
    text = response.get_data(as_text=True)
    if response.status_code in (302, 303):
        text = client.get(response.headers["Location"] or page).get_data(as_text=True)
    return text


@pytest.mark.parametrize("junk", JUNK_IDS)
def test_a_mangled_request_id_is_stale_on_every_section(console_as, engine, junk):
    """Before, collaboration silently dropped such an id (and acted without a key), money and planning
    said 页面已过期, today 请求编号无效."""
    director = console_as("钱总监")
    forms = [
        ("/console/collaboration/health/thresholds", "/console/collaboration/health",
         {"latency_p95_ms": "800", "retry_rate": "10", "check_pass_rate": "90"}),
        ("/console/money/parties/1/money", "/console/money", {"side": "receivable"}),
        ("/console/planning/recompute", "/console/planning", {}),
    ]
    for path, page, form in forms:
        before = rows(engine)
        response = post(director, path, {**form, "request_id": junk}, page=page)
        assert response.status_code != 500
        assert STALE in _said(director, response, page), path
        assert rows(engine) == before, path


def test_ids_in_forms_and_urls_are_bounded(console_as):
    manager = console_as("赵经理")
    for query in ("site_id=-1", "site_id=1e3", "site_id=%EF%BC%91", f"site_id={2**53 + 1}", "item_id=0"):
        answer = manager.get(f"/console/stock?{query}")
        text = answer.get_data(as_text=True)
        assert answer.status_code != 500 and ("地点无效" in text or "商品无效" in text), query
    assert manager.get(f"/console/stock/lots/{2**53 + 1}").status_code == 404
