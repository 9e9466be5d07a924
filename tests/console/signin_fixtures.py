"""Fixtures for the console's sign-in tests: the platforms' stub server and a console app pointed at it."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import delete, update
from sqlalchemy.orm import Session, sessionmaker

from app.factory import create_app
from devstubs.dingtalk_auth import install_dingtalk_auth
from devstubs.server import StubServer
from devstubs.web_login import WebLoginStub, install_web_login
from devstubs.wechat_messages import install_message_send, install_wecom_token
from devstubs.wechat_miniprogram import install_wechat_miniprogram
from models.demo import DemoOrg
from models.org import IdentityProvider, Member, MemberIdentity


@pytest.fixture(name="web_stub")
def fx_web_stub() -> Iterator[tuple[StubServer, WebLoginStub]]:
    server = StubServer()
    install_dingtalk_auth(server)  # the app token route (and the mini-program's, unused here)
    install_wechat_miniprogram(server)  # the official account's token route
    install_wecom_token(server)
    install_message_send(server)
    from devstubs.dingtalk_robot import install_robot_messages

    install_robot_messages(server)
    stub = install_web_login(server)
    with server:
        yield server, stub


def stub_env(server: StubServer) -> dict[str, str]:
    """The variables that point the app (and the relay's bot push) at the stub."""
    return {"DINGTALK_APP_KEY": "ding-test-key", "DINGTALK_APP_SECRET": "ding-test-secret",
            "DINGTALK_API_BASE": server.base_url, "DINGTALK_LOGIN_BASE": server.base_url,
            "WECHAT_WEB_APP_ID": "wx-web-app", "WECHAT_WEB_APP_SECRET": "wx-web-secret",
            "WECHAT_API_BASE": server.base_url, "WECHAT_OPEN_BASE": server.base_url,
            "LIUZHUAN_PLATFORM_API_BASE": server.base_url,
            "WECOM_CORP_ID": "ww-test-corp", "WECOM_SECRET": "ww-test-secret", "WECOM_AGENT_ID": "1000002",
            "LIUZHUAN_RELAY_KICK": "0"}


@pytest.fixture(name="signin_app")
def fx_signin_app(database_url: str, tmp_path, web_stub) -> Flask:
    server, _stub = web_stub
    return create_app({"DATABASE_URL": database_url, "LIUZHUAN_VAR_DIR": str(tmp_path), **stub_env(server)})


def rebind(session_factory: sessionmaker[Session], demo: DemoOrg, name: str, provider: IdentityProvider,
           external_id: str | None = None) -> str:
    """Give a demo member a binding no other test's org has (the database is shared); return its id."""
    external_id = external_id or f"{name}-{uuid.uuid4().hex[:10]}"
    member_id = demo.members[name]
    with session_factory.begin() as s:
        s.execute(delete(MemberIdentity).where(MemberIdentity.member_id == member_id,
                                               MemberIdentity.provider == provider))
        s.add(MemberIdentity(org_id=demo.org_id, member_id=member_id, provider=provider, external_id=external_id))
    return external_id


def unique_phone(session_factory: sessionmaker[Session], demo: DemoOrg, name: str) -> str:
    """Give a demo member a phone no other member has; return it."""
    phone = "137" + "".join(random.choice("0123456789") for _ in range(8))
    with session_factory.begin() as s:
        s.execute(update(Member).where(Member.id == demo.members[name]).values(phone=phone))
    return phone


def scan(client: FlaskClient, platform: str, who: str, *, next_url: str = "/console/",
         unionid: str | None = None) -> tuple[str, object]:
    """Start a QR sign-in, "scan" on the stub's page as ``who`` and come back: (callback path, response)."""
    start = client.get(f"/console/login/{platform}", query_string={"next": next_url})
    assert start.status_code == 303, start.get_data(as_text=True)
    page = requests.get(start.headers["Location"], timeout=5)
    assert page.status_code == 200 and "模拟扫码：选择用户" in page.text
    auth = urlsplit(start.headers["Location"])
    params = dict(p.split("=", 1) for p in auth.query.split("&"))
    from urllib.parse import unquote

    scan_path = "/oauth2/auth/scan" if platform == "dingtalk" else "/connect/qrconnect/scan"
    who_field = {"userid": who} if platform == "dingtalk" else {"openid": who, "unionid": unionid or ""}
    back = requests.get(f"{auth.scheme}://{auth.netloc}{scan_path}", allow_redirects=False, timeout=5,
                        params={"redirect_uri": unquote(params["redirect_uri"]),
                                "state": unquote(params["state"].split("#")[0]), **who_field})
    assert back.status_code == 302
    target = urlsplit(back.headers["Location"])
    path = f"{target.path}?{target.query}"
    return path, client.get(path)
