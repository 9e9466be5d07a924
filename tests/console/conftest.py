"""Console fixtures: an app on the test database and a browser-like client signed in as a demo member."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.factory import create_app
from models.demo import DemoOrg
from tests.console.browser import console_browser, served_console  # noqa: F401  (fixtures for browser tests)
from tests.console.members import PHONES

_CSRF = re.compile(r'(?:name="csrf_token" value="|"X-CSRFToken": ")([^"]+)"')


@pytest.fixture
def console_app(database_url: str, tmp_path) -> Flask:
    return create_app({"DATABASE_URL": database_url, "LIUZHUAN_VAR_DIR": str(tmp_path)})


def csrf_of(client: FlaskClient, path: str = "/console/login") -> str:
    """The CSRF token a page hands the browser (read from its form, as a browser would)."""
    found = _CSRF.search(client.get(path).get_data(as_text=True))
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def sign_in(client: FlaskClient, demo: DemoOrg, name: str) -> None:
    """Sign a client in as a demo member through the development login."""
    response = client.post("/console/login/dev", data={
        "csrf_token": csrf_of(client), "phone": PHONES[name], "org_id": demo.org_id, "next": "/console/"})
    assert response.status_code == 303, response.get_data(as_text=True)


@pytest.fixture
def console_as(console_app: Flask, demo: DemoOrg) -> Callable[[str], FlaskClient]:
    """``console_as("赵经理")``: a fresh client signed in as that demo member."""
    def make(name: str) -> FlaskClient:
        client = console_app.test_client()
        sign_in(client, demo, name)
        return client
    return make


def post(client: FlaskClient, path: str, data: dict[str, object] | None = None, *, page: str = "/console/"):
    """POST a console form with the CSRF token of ``page`` (as the browser's form would carry it)."""
    return client.post(path, data={"csrf_token": csrf_of(client, page), **(data or {})})
