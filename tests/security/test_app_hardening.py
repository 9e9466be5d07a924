"""Findings 12, 14 (app part) and 17 (app part): unsafe settings refused at start, hostile bodies and
a dead database answered in the JSON error shape, /metrics behind a token, security headers.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from pathlib import Path

import pytest

import workflows_api
from app.factory import create_app
from app.hardening import json_too_deep
from app.settings import Settings
from models.errors import ValidationError
from tests.security.conftest import assert_refused, rows

STRONG = "k3Jx9Qz7Lp2Vb8Nw4Rt6Ys1Ud5Fg0Hh-Strong"
METRICS_TOKEN = "m9Tq2Wz8Kd4Lr7Xv1Bn6Hs3Jp5Cy0Gf-scrape"
PRODUCTION = {"LIUZHUAN_ENV": "production", "SECRET_KEY": STRONG, "PUBLIC_BASE_URL": "https://lz.example.cn"}
DEEP = "[" * 10_000 + "]" * 10_000
JSON_ENDPOINTS = ["/api/v1/sync", "/api/v1/transfers", "/api/v1/auth/dev", "/api/v1/workflows/rules",
                  "/api/v1/planning/promotions", "/bot/dingtalk/robot"]


def _app(database_url: str, tmp_path: Path, **env: str):
    return create_app({"DATABASE_URL": database_url, "LIUZHUAN_VAR_DIR": str(tmp_path), "VOSK_MODEL_PATH": "",
                       "MEDIA_ROOT": str(tmp_path / "media"), "LIUZHUAN_RELAY_KICK": "0", **env})


# --- finding 12: LIUZHUAN_ENV and the secret key ---------------------------------------------

@pytest.mark.parametrize("value", ["prod", "Production", "PRODUCTION", "production ", "dev"])
def test_unknown_environment_is_refused_at_start(database_url, tmp_path, value):
    with pytest.raises(ValidationError) as refused:
        _app(database_url, tmp_path, LIUZHUAN_ENV=value, SECRET_KEY=STRONG, PUBLIC_BASE_URL="https://lz.example.cn")
    assert refused.value.code == "VALIDATION_ERROR" and refused.value.details["field"] == "LIUZHUAN_ENV"
    assert "LIUZHUAN_ENV 只能是" in refused.value.message


@pytest.mark.parametrize("secret", [None, "dev-only-secret-change-me", "short-secret",
                                    "dev-" + "a1b2c3d4" * 5, "please-change-me-" + "q8w7e6r5" * 3])
def test_weak_secret_is_refused_in_production(database_url, tmp_path, secret):
    env = {**PRODUCTION}
    env.pop("SECRET_KEY")
    if secret is not None:
        env["SECRET_KEY"] = secret
    with pytest.raises(ValidationError) as refused:
        Settings.from_env({"DATABASE_URL": database_url, "LIUZHUAN_VAR_DIR": str(tmp_path), **env})
    assert refused.value.details["field"] == "SECRET_KEY" and "SECRET_KEY" in refused.value.message


def test_known_environments_start(database_url, tmp_path):
    assert not Settings.from_env({"LIUZHUAN_VAR_DIR": str(tmp_path), "LIUZHUAN_ENV": "test"}).production
    assert not Settings.from_env({"LIUZHUAN_VAR_DIR": str(tmp_path)}).production
    assert _app(database_url, tmp_path, **PRODUCTION).extensions["liuzhuan"]["settings"].production


# --- finding 14: hostile bodies, NUL, a dead database ----------------------------------------

@pytest.mark.parametrize("path", JSON_ENDPOINTS)
def test_json_nested_10000_deep_is_refused_before_parsing(client, as_, engine, path):
    before = rows(engine)
    resp = client.post(path, data=DEEP, content_type="application/json", headers=as_("赵经理"))
    assert_refused(resp, 400, "JSON_TOO_DEEP", "嵌套层数过多")
    assert rows(engine) == before


def test_depth_scan_ignores_brackets_inside_strings():
    assert not json_too_deep(('{"note": "' + "[" * 500 + '"}').encode())
    assert json_too_deep(("[" * 65 + "]" * 65).encode()) and not json_too_deep(("[" * 64 + "]" * 64).encode())


@pytest.mark.parametrize("path", ["/api/v1/sync", "/api/v1/workflows/rules", "/api/v1/planning/promotions"])
def test_nul_in_a_json_string_is_refused(client, as_, engine, path):
    before = rows(engine)
    resp = client.post(path, data='{"name": "茶\\u0000青", "operations": []}', content_type="application/json",
                       headers=as_("赵经理"))
    assert_refused(resp, 422, "NUL_CHARACTER", "空字符")
    assert rows(engine) == before


def test_nul_in_the_query_string_is_refused(client, as_):
    assert_refused(client.get("/api/v1/stock?item=%00", headers=as_("赵经理")), 422, "NUL_CHARACTER", "空字符")


def _dead_database_url(tmp_path: Path) -> str:
    if os.environ.get("TEST_DB", "sqlite") == "postgres":
        return "postgresql+psycopg://postgres@127.0.0.1:1/liuzhuan_gone"  # nothing listens on port 1
    return f"sqlite:///{tmp_path / 'missing-dir' / 'gone.db'}"  # the directory does not exist


def test_database_down_answers_503_in_the_json_shape(tmp_path):
    from miniprogram_api.auth import issue_token

    app = _app(_dead_database_url(tmp_path), tmp_path)
    with app.app_context():
        auth = {"Authorization": f"Bearer {issue_token(1, 1)}"}
    for path in ("/healthz", "/api/v1/workflows/health", "/api/v1/me"):
        resp = app.test_client().get(path, headers=auth)
        error = assert_refused(resp, 503, "SERVICE_UNAVAILABLE", "服务暂时不可用，请稍后再试")
        assert error["details"] == {} and resp.headers["Retry-After"] == "5"


def test_values_the_database_refuses_answer_422_and_crashes_answer_json_500(database_url, tmp_path):
    from sqlalchemy.exc import DataError

    app = _app(database_url, tmp_path)

    def nul() -> None:
        raise DataError("INSERT …", {}, Exception("PostgreSQL text fields cannot contain NUL (0x00) bytes"))

    def out_of_range() -> None:
        raise DataError("INSERT …", {}, Exception("bigint out of range"))

    def crash() -> None:
        raise RuntimeError("bug")

    for rule, view in (("/t/nul", nul), ("/t/range", out_of_range), ("/t/crash", crash)):
        app.add_url_rule(rule, view_func=view)
    client = app.test_client()
    assert_refused(client.get("/t/nul"), 422, "NUL_CHARACTER", "空字符")
    assert_refused(client.get("/t/range"), 422, "VALIDATION_ERROR", "超出允许范围")
    assert_refused(client.get("/t/crash"), 500, "INTERNAL_ERROR", "服务器内部错误")


def test_unknown_route_and_method_answer_json(client):
    assert_refused(client.get("/no-such-page"), 404, "NOT_FOUND", "找不到")
    assert_refused(client.delete("/healthz"), 405, "METHOD_NOT_ALLOWED", "不支持")


# --- finding 17: /metrics and security headers ------------------------------------------------

def test_metrics_need_the_token_in_production(database_url, tmp_path):
    app = _app(database_url, tmp_path, METRICS_TOKEN=METRICS_TOKEN, **PRODUCTION)
    client = app.test_client()
    assert_refused(client.get("/metrics"), 401, "UNAUTHENTICATED", "METRICS_TOKEN")
    assert_refused(client.get("/metrics", headers={"Authorization": "Bearer wrong"}), 401, "UNAUTHENTICATED")
    ok = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert ok.status_code == 200 and "liuzhuan_dead_letters" in ok.get_data(as_text=True)


def test_metrics_are_off_in_production_without_a_token(database_url, tmp_path):
    assert_refused(_app(database_url, tmp_path, **PRODUCTION).test_client().get("/metrics"), 404, "NOT_FOUND")


def test_weak_metrics_token_is_refused_in_production(database_url, tmp_path):
    with pytest.raises(ValidationError) as refused:
        _app(database_url, tmp_path, METRICS_TOKEN="metrics", **PRODUCTION)
    assert refused.value.details["field"] == "METRICS_TOKEN"


def test_metrics_scrapes_reuse_one_computation(database_url, tmp_path, monkeypatch):
    calls = []
    real = workflows_api.event_health
    monkeypatch.setattr(workflows_api, "event_health", lambda session: calls.append(1) or real(session))
    client = _app(database_url, tmp_path, METRICS_CACHE_SECONDS="300").test_client()
    first, second = client.get("/metrics"), client.get("/metrics")
    assert first.status_code == second.status_code == 200 and first.data == second.data
    assert len(calls) == 1


def _try_page_script_hash() -> str:
    page = (Path(__file__).resolve().parents[2] / "miniprogram_api" / "static" / "try.html").read_text("utf-8")
    script = re.search(r"<script>(.*?)</script>", page, re.S)
    assert script is not None
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.group(1).encode()).digest()).decode() + "'"


@pytest.mark.parametrize("path", ["/healthz", "/try", "/no-such-page", "/api/v1/me"])
def test_security_headers_on_every_response(client, path):
    resp = client.get(path)
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    csp = resp.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
    script_src = next(d for d in csp.split("; ") if d.startswith("script-src"))
    assert "'unsafe-inline'" not in script_src
    assert _try_page_script_hash() in script_src  # the /try page's inline script still runs
