"""The stub server answers as the platforms do, and the real wechatpy client can be pointed at it."""

from __future__ import annotations

from wechatpy import WeChatClient
from wechatpy.exceptions import WeChatClientException

from devstubs.server import StubServer
from devstubs.wechat import install_wechat_token
from platforms.redirect import redirect_requests_session


def test_wechatpy_client_fetches_its_token_from_the_stub():
    with StubServer() as server:
        install_wechat_token(server)
        client = WeChatClient("wx-test-app", "wx-test-secret")
        redirect_requests_session(client._http, server.base_url)
        assert client.access_token.startswith("stub-token-")
        assert server.received("/cgi-bin/token")[0].query["grant_type"] == "client_credential"


def test_a_wrong_secret_is_refused_like_wechat_does():
    with StubServer() as server:
        install_wechat_token(server)
        client = WeChatClient("wx-test-app", "wrong")
        redirect_requests_session(client._http, server.base_url)
        try:
            client.fetch_access_token()
        except WeChatClientException as exc:
            assert exc.errcode == 40125
        else:
            raise AssertionError("a wrong secret must be refused")
