"""Sign in with DingTalk in a real browser: the login page, the platform's QR page (the stub), "scanning"
there, back to the console signed in; at phone and desktop size."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator

import pytest
from werkzeug.serving import make_server

from app.factory import create_app
from models.org import IdentityProvider
from tests.conftest import service_unavailable
from tests.console.browser import ARGS, CHROMIUM, DESKTOP, PHONE, axe_violations, no_sideways_scroll, shoot
from tests.console.signin_fixtures import fx_web_stub, rebind, stub_env  # noqa: F401  (fixtures)


@pytest.fixture
def served(database_url: str, tmp_path, web_stub) -> Iterator[str]:
    """The console on a port known before the app is built: the callback URL is PUBLIC_BASE_URL's."""
    server_stub, _ = web_stub
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    app = create_app({"DATABASE_URL": database_url, "LIUZHUAN_VAR_DIR": str(tmp_path), "PUBLIC_BASE_URL": base,
                      **stub_env(server_stub)})
    server = make_server("127.0.0.1", port, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture
def browser():
    try:
        from playwright import sync_api
    except ImportError as exc:
        service_unavailable("playwright (pip)", exc)
    if not CHROMIUM.exists():
        service_unavailable("chromium", FileNotFoundError("apt-get install -y chromium"))
    with sync_api.sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


def _page(browser, viewport, errors):
    page = browser.new_context(viewport=viewport, locale="zh-CN").new_page()
    page.on("console", lambda msg: errors.append(f"{page.url}: {msg.text}") if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
    return page


@pytest.mark.parametrize("size", ["phone", "desktop"])
def test_sign_in_by_scanning_with_dingtalk(size, served, browser, demo, session_factory):
    userid = rebind(session_factory, demo, "赵经理", IdentityProvider.DINGTALK_USERID)
    errors: list[str] = []
    page = _page(browser, PHONE if size == "phone" else DESKTOP, errors)
    page.goto(f"{served}/console/login")
    assert page.get_by_role("link", name="钉钉扫码登录").is_visible()
    assert no_sideways_scroll(page)
    assert axe_violations(page) == []
    shoot(page, f"signin-{size}")
    page.get_by_role("link", name="钉钉扫码登录").click()
    page.wait_for_url(lambda url: "/oauth2/auth" in url)
    assert page.locator("img[alt=登录二维码]").is_visible()  # the platform's QR (drawn by the stub)
    shoot(page, f"signin-dingtalk-qr-{size}")
    page.fill("#userid", userid)
    page.get_by_role("button", name="模拟扫码并确认登录").click()
    page.wait_for_url(lambda url: url.rstrip("/").endswith("/console"))
    assert "赵经理" in page.text_content("header")
    shoot(page, f"signin-done-{size}")
    assert not errors, "console errors:\n" + "\n".join(errors)
