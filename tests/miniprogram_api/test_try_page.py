"""The /try page end to end in headless Chromium (the machine's Debian chromium, driven by Playwright):
pick farmer and grade, add a photo, record with the browser's (fake) microphone, type the weight, preview,
confirm, and see the delivery note with its QR code. A screenshot is kept under test-artifacts/."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from werkzeug.serving import make_server

from tests.conftest import service_unavailable
from tests.miniprogram_api.fixtures_3b import bearer, fx_app  # noqa: F401

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--use-fake-ui-for-media-stream", "--use-fake-device-for-media-stream"]


@pytest.fixture
def served(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def test_plain_get_serves_the_page_in_development_only(app, database_url, tmp_path):
    from app.factory import create_app

    page = app.test_client().get("/try")
    assert page.status_code == 200 and "快速交售" in page.get_data(as_text=True)
    production = create_app({"DATABASE_URL": database_url, "LIUZHUAN_ENV": "production", "SECRET_KEY": "x" * 48,
                             "LIUZHUAN_VAR_DIR": str(tmp_path), "PUBLIC_BASE_URL": "https://lz.example.cn"})
    assert production.test_client().get("/try").status_code == 404


def test_quick_entry_in_a_real_browser(served, app, demo, tmp_path):
    try:
        from playwright import sync_api
    except ImportError as exc:
        service_unavailable("playwright (pip)", exc)
    if not CHROMIUM.exists():
        service_unavailable("chromium", FileNotFoundError("apt-get install -y chromium"))
    photo = tmp_path / "basket.jpg"
    Image.new("RGB", (640, 480), (40, 140, 60)).save(photo, "JPEG", quality=85)
    token = bearer(app, demo, "小周")["Authorization"].removeprefix("Bearer ")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844}, device_scale_factor=2)
            page.goto(f"{served}/try#token={token}")
            page.locator("#farmers button", has_text="王阿姨").click()
            page.locator("#grades button", has_text="一级").click()
            page.set_input_files("#photo", str(photo))
            page.click("#record")  # the fake microphone plays a beep: a real MediaRecorder clip
            page.wait_for_timeout(1200)
            page.click("#record")
            page.wait_for_function("document.getElementById('record-state').textContent.includes('已录音')")
            page.fill("#weight", "23.5")
            page.click("#units button[data-unit='斤']")
            page.click("#submit")
            page.wait_for_selector("#draft:not(.hidden)", timeout=20_000)
            assert page.text_content("#d-prepayment") == "¥658.00"
            assert "11.75 公斤" in page.text_content("#d-weight")
            page.screenshot(path=str(ARTIFACTS / "try-page-draft.png"), full_page=True)
            page.click("#confirm")
            page.wait_for_selector("#note:not(.hidden)", timeout=20_000)
            assert page.text_content("#n-number").startswith("RK-SX-")
            assert page.text_content("#n-amount") == "¥940.00" and page.text_content("#n-prepayment") == "¥658.00"
            assert page.evaluate("document.getElementById('qr').naturalWidth") > 0
            assert page.text_content("#error") == ""
            page.screenshot(path=str(ARTIFACTS / "try-page.png"), full_page=True)
        finally:
            browser.close()
