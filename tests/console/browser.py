"""Playwright driving the machine's Debian chromium against the console served on a local port.

Use the ``console_browser`` fixture: ``page = console_browser("赵经理")`` gives a signed-in page at the
phone size (``console_browser("赵经理", desktop=True)`` at 1366 px). Every page a test opens is checked
afterwards for console errors (a JavaScript error or a refused resource fails the test), and
``shoot(page, "name")`` keeps a screenshot under test-artifacts/console/.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from models.demo import DemoOrg
from tests.conftest import service_unavailable
from tests.console.members import PHONES

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "console"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
PHONE = {"width": 360, "height": 780}
DESKTOP = {"width": 1366, "height": 900}
AXE = Path(__file__).resolve().parent / "vendor" / "axe.min.js"


@pytest.fixture
def served_console(console_app: Flask) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, console_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture
def console_browser(served_console: str, demo: DemoOrg) -> Iterator[Callable[..., Any]]:
    try:
        from playwright import sync_api
    except ImportError as exc:
        service_unavailable("playwright (pip)", exc)
    if not CHROMIUM.exists():
        service_unavailable("chromium", FileNotFoundError("apt-get install -y chromium"))
    errors: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)

        def open_as(name: str, *, desktop: bool = False) -> Any:
            context = browser.new_context(viewport=DESKTOP if desktop else PHONE, locale="zh-CN")
            page = context.new_page()
            page.on("console", lambda msg: errors.append(f"{page.url}: {msg.text}") if msg.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}"))
            page.base_url = served_console  # type: ignore[attr-defined]
            page.goto(f"{served_console}/console/login")
            page.fill("#phone", PHONES[name])
            # Wait for the answer before looking for the org choice: counting on the old page raced
            # the navigation and left a member of two orgs on the choice page.
            with page.expect_navigation():
                page.click("button[type=submit]")
            choice = page.locator(f"input[name=org_id][value='{demo.org_id}']")
            if choice.count():
                choice.check()
                with page.expect_navigation():
                    page.click("button[type=submit]")
            page.wait_for_url(lambda url: "/console/login" not in url)
            return page

        try:
            yield open_as
        finally:
            browser.close()
    assert not errors, "console errors:\n" + "\n".join(errors)


def shoot(page: Any, name: str) -> Path:
    """Keep a full-page screenshot as a test artefact; returns its path."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def no_sideways_scroll(page: Any) -> bool:
    """The page body fits the viewport's width (wide tables scroll inside their own box)."""
    return bool(page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1"))


def axe_violations(page: Any, rules: tuple[str, ...] = ("label", "color-contrast", "button-name", "link-name",
                                                         "image-alt", "html-has-lang", "document-title")) -> list[str]:
    """axe-core's serious violations of the basic rules on the current page (ids and the first target)."""
    page.evaluate(AXE.read_text(encoding="utf-8"))  # evaluated, not a <script>: the page's CSP stays on
    result = page.evaluate(
        "async (rules) => (await axe.run(document, {runOnly: {type: 'rule', values: rules}})).violations"
        ".map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).slice(0, 3).join(', '))", list(rules))
    return list(result)
