"""Bot fixtures: the web app with every platform configured, a stub of the platforms' servers,
chat users bound through the real binding-code flow (unique ids per test), SDK-built clients."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session, sessionmaker

from app.factory import create_app
from devstubs.dingtalk import install_dingtalk_token
from devstubs.dingtalk_robot import install_robot_messages
from devstubs.server import StubServer
from devstubs.wechat import install_wechat_token
from devstubs.wechat_messages import install_media, install_message_send, install_wecom_token
from models.actor import Actor
from models.demo import DemoOrg
from models.operations.identity import BindIdentity, IssueBindingCode, bind_with_code, issue_binding_code
from models.org import IdentityProvider
from models.uow import run
from tests.bot.clients import DingTalkUser, WeChatUser, WeComUser

AES_KEY = base64.b64encode(b"liuzhuan-test-aes-key-32-bytes!!").decode().rstrip("=")
MEDIA: dict[str, tuple[bytes, str]] = {}
DING_FILES: dict[str, bytes] = {}


@pytest.fixture(scope="session")
def stub() -> Iterator[StubServer]:
    server = StubServer()
    install_wechat_token(server, appid="wx-test-app", secret="wx-test-secret")
    install_wecom_token(server, corp_id="ww-test-corp", secret="ww-test-secret")
    install_dingtalk_token(server, app_key="ding-test-key", app_secret="ding-test-secret")
    install_media(server, MEDIA)
    install_message_send(server)
    install_robot_messages(server, DING_FILES)
    with server:
        yield server


def bot_env(database_url: str, stub: StubServer, media_root: Path) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url, "MEDIA_ROOT": str(media_root), "VOSK_MODEL_PATH": "",
        "WECHAT_TOKEN": "wx-token", "WECHAT_AES_KEY": AES_KEY, "WECHAT_APPID": "wx-test-app",
        "WECHAT_SECRET": "wx-test-secret",
        "WECOM_TOKEN": "wecom-token", "WECOM_AES_KEY": AES_KEY, "WECOM_CORP_ID": "ww-test-corp",
        "WECOM_SECRET": "ww-test-secret", "WECOM_AGENT_ID": "1000002",
        "DINGTALK_APP_KEY": "ding-test-key", "DINGTALK_APP_SECRET": "ding-test-secret",
        "DINGTALK_ROBOT_CODE": "ding-test-key", "DINGTALK_EVENT_TOKEN": "ding-event-token",
        "DINGTALK_EVENT_AES_KEY": AES_KEY,
        "LIUZHUAN_PLATFORM_API_BASE": stub.base_url,
    }


@pytest.fixture(scope="session")
def env(database_url: str, stub: StubServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return bot_env(database_url, stub, tmp_path_factory.mktemp("media"))


@pytest.fixture(scope="session")
def app(env: dict[str, str]) -> Flask:
    return create_app(env)


@pytest.fixture
def worker_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The worker reads the same settings from its environment."""
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return env


def bind(session_factory: sessionmaker[Session], demo: DemoOrg, name: str, provider: IdentityProvider) -> str:
    """Bind a fresh chat id to a demo member through a one-time code; return the chat id."""
    external_id = f"{name}-{uuid.uuid4().hex[:8]}"
    root = Actor.system_actor(demo.org_id)
    code = run(session_factory, issue_binding_code, root, IssueBindingCode(demo.members[name])).code
    bind_with_code(session_factory, BindIdentity(provider, external_id, code))
    return external_id


@pytest.fixture
def wechat(app: Flask, session_factory, demo) -> WeChatUser:
    """王阿姨 (farmer) on the WeChat official account."""
    openid = bind(session_factory, demo, "王阿姨", IdentityProvider.WECHAT_OPENID)
    return WeChatUser(app.test_client(), openid, "wx-token", AES_KEY, "wx-test-app")


@pytest.fixture
def wecom(app: Flask, session_factory, demo) -> WeComUser:
    """小周 (clerk at 绍兴收购点) in the WeCom app."""
    userid = bind(session_factory, demo, "小周", IdentityProvider.WECOM_USERID)
    return WeComUser(app.test_client(), userid, "wecom-token", AES_KEY, "ww-test-corp")


@pytest.fixture
def ding_users(app: Flask, session_factory, demo) -> dict[str, DingTalkUser]:
    """老孙 (storekeeper 总仓/门店), 赵经理 (manager) and 钱总监 on the DingTalk robot."""
    return {name: DingTalkUser(app.test_client(), bind(session_factory, demo, name,
                                                       IdentityProvider.DINGTALK_USERID), "ding-test-secret")
            for name in ("老孙", "赵经理", "钱总监")}
