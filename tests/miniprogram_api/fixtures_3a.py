"""Fixtures for the login and quick-entry tests (import the ``fx_*`` names): app, stubs, tokens."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.factory import create_app
from devstubs.dingtalk_auth import DingTalkAuthStub, install_dingtalk_auth
from devstubs.server import StubServer
from devstubs.wechat_miniprogram import MiniProgramStub, install_wechat_miniprogram
from models.demo import DemoOrg


@pytest.fixture(scope="module", name="platform_stub")
def fx_platform_stub() -> Iterator[tuple[StubServer, MiniProgramStub, DingTalkAuthStub]]:
    """One stub server speaking both WeChat's and DingTalk's login protocols."""
    with StubServer() as server:
        wx = install_wechat_miniprogram(server)
        ding = install_dingtalk_auth(server)
        yield server, wx, ding


def make_app(database_url: str, media_root: Path, **extra: str) -> Flask:
    """An app on the test database with media under ``media_root``."""
    app = create_app({"DATABASE_URL": database_url, "MEDIA_ROOT": str(media_root), "VOSK_MODEL_PATH": "",
                      "WECHAT_MINIPROGRAM_APP_ID": "", **extra})
    app.config["TESTING"] = True
    return app


@pytest.fixture(name="app")
def fx_app(database_url: str, tmp_path: Path, platform_stub: Any) -> Flask:
    server, wx, ding = platform_stub
    return make_app(database_url, tmp_path / "media",
                    WECHAT_MINIPROGRAM_APP_ID=wx.appid, WECHAT_MINIPROGRAM_APP_SECRET=wx.secret,
                    WECHAT_API_BASE=server.base_url, DINGTALK_MINIPROGRAM_APP_KEY=ding.app_key,
                    DINGTALK_MINIPROGRAM_APP_SECRET=ding.app_secret, DINGTALK_API_BASE=server.base_url)


@pytest.fixture(name="client")
def fx_client(app: Flask) -> FlaskClient:
    return app.test_client()


def token_for(app: Flask, demo: DemoOrg, name: str) -> str:
    """A bearer token for one of the demo's people."""
    from miniprogram_api.auth import issue_token

    with app.app_context():
        return issue_token(demo.members[name], demo.org_id)


def bearer(app: Flask, demo: DemoOrg, name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(app, demo, name)}"}
