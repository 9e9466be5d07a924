"""One wechatpy client per WeChat / WeCom app for the process: its access token is fetched once and reused.

Counted at the stub: every request it receives is logged (devstubs.server), so the token routes'
logs say how many tokens were fetched.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from bot.platforms import BotConfig, platform_for
from devstubs.server import StubRequest, StubServer
from devstubs.wechat import install_wechat_token
from devstubs.wechat_messages import install_message_send, install_wecom_token
from devstubs.wechat_miniprogram import install_wechat_miniprogram
from devstubs.wechat_subscribe import install_wechat_subscribe
from platforms.errors import PlatformUnavailable
from platforms.wechat import forget_wechat_clients, wechat_client, wecom_client
from platforms.wechat_miniprogram import WeChatPyMiniProgram
from workflows.messenger import PlatformMessenger

TOKEN = "/cgi-bin/token"
WECOM_TOKEN = "/cgi-bin/gettoken"
SUBSCRIBE = "/cgi-bin/message/subscribe/send"
APP, SECRET = "wx-test-app", "wx-test-secret"


@pytest.fixture(autouse=True)
def _fresh_clients() -> Iterator[None]:
    forget_wechat_clients()
    yield
    forget_wechat_clients()


@pytest.fixture
def stub() -> Iterator[StubServer]:
    with StubServer() as server:
        install_wechat_token(server, appid=APP, secret=SECRET)
        install_wechat_subscribe(server)
        yield server


def messenger(server: StubServer, appid: str = APP, secret: str = SECRET) -> PlatformMessenger:
    return PlatformMessenger(dingtalk_key="unused", dingtalk_secret="unused", card_template_id="tpl",
                             robot_code="robot", wechat_appid=appid, wechat_secret=secret,
                             wechat_base=server.base_url)


def notice(n: int) -> dict[str, object]:
    return {"template_id": "tpl-approval", "page": f"pages/approvals/detail?id={n}",
            "data": {"thing1": {"value": f"采购单 {n}"}}}


def used_tokens(server: StubServer) -> list[str]:
    return [r.query["access_token"] for r in server.received(SUBSCRIBE)]


def test_two_sends_fetch_one_token(stub: StubServer) -> None:
    messenger(stub).send_subscribe("openid-1", notice(1))
    messenger(stub).send_subscribe("openid-2", notice(2))  # a messenger per send, as the outbox relay may build

    assert len(stub.received(TOKEN)) == 1
    tokens = used_tokens(stub)
    assert len(tokens) == 2 and tokens[0] == tokens[1] and tokens[0].startswith("stub-token-")
    assert wechat_client(APP, SECRET, api_base=stub.base_url + "/") is wechat_client(APP, SECRET,
                                                                                       api_base=stub.base_url)


def test_the_login_and_the_approval_messages_of_one_app_share_the_token(stub: StubServer) -> None:
    mini = install_wechat_miniprogram(stub)  # same app id and secret as the messenger's
    login = WeChatPyMiniProgram(mini.appid, mini.secret, api_base=stub.base_url)
    assert login.phone_number(mini.phone_code("13800000001")) == "13800000001"
    messenger(stub).send_subscribe("openid-1", notice(1))

    assert len(stub.received(TOKEN)) == 1
    phone_token = stub.received("/wxa/business/getuserphonenumber")[0].query["access_token"]
    assert used_tokens(stub) == [phone_token]
    assert login.client.timeout == 5  # the login's budget is kept


def test_another_app_gets_its_own_token(stub: StubServer) -> None:
    other_secret: dict[str, str] = {APP: SECRET, "wx-other-app": "wx-other-secret"}
    issued: list[str] = []

    # The stock token route knows one app; this one knows two and numbers its tokens.
    @stub.route("GET", TOKEN)
    def token(req: StubRequest) -> dict[str, object]:
        if other_secret.get(req.query.get("appid", "")) != req.query.get("secret"):
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        issued.append(f"stub-token-{req.query['appid']}-{len(issued)}")
        return {"access_token": issued[-1], "expires_in": 7200}

    for _ in range(2):
        messenger(stub).send_subscribe("openid-1", notice(1))
        messenger(stub, "wx-other-app", "wx-other-secret").send_subscribe("openid-2", notice(2))

    assert [r.query["appid"] for r in stub.received(TOKEN)] == [APP, "wx-other-app"]
    assert used_tokens(stub) == [issued[0], issued[1], issued[0], issued[1]]
    assert wechat_client(APP, SECRET, api_base=stub.base_url) is not wechat_client(
        "wx-other-app", "wx-other-secret", api_base=stub.base_url)


@pytest.mark.parametrize("errcode", [40001, 42001])
def test_a_token_the_platform_refuses_is_fetched_anew(stub: StubServer, errcode: int) -> None:
    send = stub.routes[("POST", SUBSCRIBE)]
    refused: set[str] = set()

    # WeChat ends a token early (another fetch replaced it: 40001) or on expiry (42001).
    @stub.route("POST", SUBSCRIBE)
    def maybe_refuse(req: StubRequest) -> object:
        if req.query.get("access_token") in refused:
            return {"errcode": errcode, "errmsg": "access_token expired or invalid"}
        return send(req)

    messenger(stub).send_subscribe("openid-1", notice(1))
    first = used_tokens(stub)[0]
    refused.add(first)
    messenger(stub).send_subscribe("openid-2", notice(2))  # refused once, then retried with a new token
    messenger(stub).send_subscribe("openid-3", notice(3))  # the new token is kept

    assert len(stub.received(TOKEN)) == 2
    tokens = used_tokens(stub)
    assert tokens[:2] == [first, first] and tokens[2] == tokens[3] != first
    assert [(r.json() or {})["touser"] for r in stub.received(SUBSCRIBE)] == [
        "openid-1", "openid-2", "openid-2", "openid-3"]


def test_a_wrong_secret_is_refused_not_served_the_cached_token(stub: StubServer) -> None:
    mini = install_wechat_miniprogram(stub)
    messenger(stub).send_subscribe("openid-1", notice(1))
    with pytest.raises(PlatformUnavailable) as info:
        WeChatPyMiniProgram(mini.appid, "wrong", api_base=stub.base_url).phone_number(mini.phone_code("13800000002"))
    assert info.value.details["errcode"] == 40125
    assert len(stub.received(TOKEN)) == 2  # the good fetch, then the refused one (nothing cached for it)


def test_concurrent_callers_wait_for_one_fetch(stub: StubServer) -> None:
    got: list[str] = []
    barrier = threading.Barrier(8)

    def call() -> None:
        barrier.wait()
        got.append(wechat_client(APP, SECRET, api_base=stub.base_url).access_token)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 8 and len(set(got)) == 1
    assert len(stub.received(TOKEN)) == 1


def test_the_bots_reuse_the_token_across_adapters() -> None:
    with StubServer() as server:
        install_wechat_token(server, appid=APP, secret=SECRET)
        install_wecom_token(server, corp_id="ww-test-corp", secret="ww-test-secret")
        install_message_send(server)
        config = BotConfig(wechat_appid=APP, wechat_secret=SECRET, wecom_corp_id="ww-test-corp",
                           wecom_secret="ww-test-secret", wecom_agent_id="1000002", api_base=server.base_url)
        for text in ("你好", "再见"):  # bot.push builds an adapter per message
            platform_for("wechat", config).push_text("openid-1", text)
            platform_for("wecom", config).push_text("zhou", text)

        assert len(server.received(TOKEN)) == 1 and len(server.received(WECOM_TOKEN)) == 1
        official = {r.query["access_token"] for r in server.received("/cgi-bin/message/custom/send")}
        wecom = {r.query["access_token"] for r in server.received("/cgi-bin/message/send")}
        assert len(official) == 1 and next(iter(official)).startswith("stub-token-")
        assert len(wecom) == 1 and next(iter(wecom)).startswith("stub-wecom-")
        assert wecom_client("ww-test-corp", "ww-test-secret", api_base=server.base_url) is platform_for(
            "wecom", config).client


def test_no_api_base_means_the_real_hosts() -> None:
    client = wechat_client("wx-any", "s")
    assert client is not wechat_client("wx-any", "s", api_base="http://127.0.0.1:1")
    assert type(client._http.get_adapter("https://api.weixin.qq.com/cgi-bin/token")).__name__ == "HTTPAdapter"
