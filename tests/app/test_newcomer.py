"""What the README tells a newcomer to do works: the shipped samples, /try's unit buttons, the stubs."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
import requests

from devstubs.__main__ import build
from tests.miniprogram_api.fixtures_3a import bearer, fx_app, fx_client, fx_platform_stub  # noqa: F401

ROOT = Path(__file__).resolve().parents[2]
TRY_PAGE = ROOT / "miniprogram_api" / "static" / "try.html"


def _intake(client, app, demo, files=None, **fields):
    data = {"site_id": str(demo.sites["SX"]), "grade_id": str(demo.grades["一级"]),
            "party": str(demo.parties["王阿姨"]), **fields}
    data.update(files or {})
    return client.post("/api/v1/intake", data=data, headers=bearer(app, demo, "小周"),
                       content_type="multipart/form-data")


def _has_unit(texts: list[str]) -> list[bool]:
    """Run try.html's own hasUnit() in node on ``texts``."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    source = TRY_PAGE.read_text(encoding="utf-8")
    regex = re.search(r"^const UNIT_WORD = .*$", source, re.M)
    func = re.search(r"^function hasUnit\(text\) .*$", source, re.M)
    assert regex and func, "try.html lost hasUnit()"
    script = f"{regex.group(0)}\n{func.group(0)}\nconsole.log(JSON.stringify({json.dumps(texts)}.map(hasUnit)));"
    out = subprocess.run([node, "-e", script], capture_output=True, text=True, timeout=30, check=True)
    return json.loads(out.stdout)


def test_try_page_sends_the_unit_button_only_for_a_bare_number(client, app, demo):
    texts = ["二十三斤半", "23.5", "二十三", "11.75公斤", "3斤2两", "两百", "24 kg", "五两"]
    assert _has_unit(texts) == [True, False, False, True, True, False, True, True]
    # What the page now sends for its own example, with the default 斤 button on: no unit.
    resp = _intake(client, app, demo, weight="二十三斤半")
    assert resp.status_code == 200, resp.json
    assert Decimal(resp.json["weight"]["kilograms"]) == Decimal("11.75")
    # A bare number still takes the button's unit.
    assert Decimal(_intake(client, app, demo, weight="23.5", unit="斤").json["weight"]["kilograms"]) == Decimal("11.75")
    resp = _intake(client, app, demo, weight="三斤二两")
    assert resp.status_code == 200 and Decimal(resp.json["weight"]["kilograms"]) == Decimal("1.6"), resp.json
    # What an older page sends, the text and the button's unit both: the unit the text says wins
    # (the server no longer glues them into "三斤二两斤").
    old = _intake(client, app, demo, weight="三斤二两", unit="斤")
    assert old.status_code == 200 and Decimal(old.json["weight"]["kilograms"]) == Decimal("1.6"), old.json


def test_readme_intake_curl_samples_exist_and_are_accepted(client, app, demo):
    jpg, m4a = (ROOT / "samples" / "basket.jpg").read_bytes(), (ROOT / "samples" / "say.m4a").read_bytes()
    assert jpg[:3] == b"\xff\xd8\xff" and m4a[4:8] == b"ftyp" and len(jpg) + len(m4a) < 64_000
    resp = _intake(client, app, demo, weight="23.5", unit="斤",
                   files={"photos": (io.BytesIO(jpg), "basket.jpg"), "audio": (io.BytesIO(m4a), "say.m4a")})
    assert resp.status_code == 200, resp.json
    assert len(resp.json["photos"]) == 1 and Decimal(resp.json["amount"]) == Decimal("940.00")


def test_devstubs_main_serves_every_platform_and_mints_login_codes():
    server = build().start()
    try:
        code = requests.post(f"{server.base_url}/__stub/wechat/login-code", json={"openid": "demo-openid-wang"},
                             timeout=5).json()["code"]
        login = requests.get(f"{server.base_url}/sns/jscode2session", timeout=5, params={
            "appid": "wx-test-app", "secret": "wx-test-secret", "js_code": code,
            "grant_type": "authorization_code"}).json()
        assert login["openid"] == "demo-openid-wang"
        token = requests.post(f"{server.base_url}/v1.0/oauth2/accessToken", timeout=5,
                              json={"appKey": "ding-test-key", "appSecret": "ding-test-secret"}).json()
        assert token["accessToken"].startswith("stub-ding-")
        assert requests.get(f"{server.base_url}/cgi-bin/gettoken", timeout=5, params={
            "corpid": "ww-test-corp", "corpsecret": "ww-test-secret"}).json()["errcode"] == 0
    finally:
        server.stop()
