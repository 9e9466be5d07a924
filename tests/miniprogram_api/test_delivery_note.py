"""The signed, read-only delivery-note page and its QR code; the offline docs page for the spec."""

from __future__ import annotations

import base64
import io
import re

from PIL import Image

from app.factory import settings_of
from tests.miniprogram_api.fixtures_3a import bearer, fx_app, fx_client, fx_platform_stub  # noqa: F401
from tests.miniprogram_api.test_intake import post_intake


def _confirmed(client, app, demo):
    d = post_intake(client, app, demo, weight="23.5", unit="斤").json
    return client.post(f"/api/v1/intake/{d['draft_id']}/confirm", json={}, headers=bearer(app, demo, "小周")).json


def test_the_note_page_opens_without_login_and_shows_the_delivery(client, app, demo):
    note = _confirmed(client, app, demo)
    path = note["note_url"].removeprefix(settings_of(app).public_base_url)
    page = client.get(path)
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    for text in (note["number"], "王阿姨", "茶青", "一级", "23.5 斤", "11.75 公斤", "940.00 元", "658.00 元", "已入库"):
        assert text in html, text
    assert 'name="viewport"' in html and 'lang="zh-CN"' in html
    qr = client.get(path + "/qr.png")
    assert qr.status_code == 200 and Image.open(io.BytesIO(qr.data)).format == "PNG"
    inline = Image.open(io.BytesIO(base64.b64decode(note["qr_png_base64"])))
    assert inline.format == "PNG" and inline.width >= 100


def test_a_tampered_link_is_404(client, app, demo):
    note = _confirmed(client, app, demo)
    path = note["note_url"].removeprefix(settings_of(app).public_base_url)
    forged = re.sub(r"/d/.", "/d/x", path)
    assert client.get(forged).status_code == 404
    assert client.get("/d/not-a-token").json["error"]["code"] == "NOT_FOUND"


def test_docs_page_and_spec_work_offline(client):
    spec = client.get("/openapi/openapi.json")
    assert spec.status_code == 200
    paths = spec.json["paths"]
    for p in ("/api/v1/auth/wechat", "/api/v1/auth/dingtalk", "/api/v1/intake", "/api/v1/intake/{draft_id}/confirm"):
        assert p in paths
    ui = client.get("/openapi/swagger")
    assert ui.status_code == 200
    html = ui.get_data(as_text=True)
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert assets and not [a for a in assets if a.startswith(("http://", "https://", "//"))]
    for asset in assets:
        if asset.endswith((".js", ".css")):
            assert client.get(f"/openapi/{asset}" if not asset.startswith("/") else asset).status_code == 200
    assert client.get("/openapi/").status_code == 200
