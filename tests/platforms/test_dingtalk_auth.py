"""The DingTalk SDK (token) and free-login calls against the stub."""

from __future__ import annotations

import pytest

from devstubs.dingtalk_auth import install_dingtalk_auth
from devstubs.server import StubServer
from platforms.dingtalk_auth import DingTalkMiniProgramAuth, DingTalkSdkAuth
from platforms.errors import PlatformCodeInvalid, PlatformUnavailable


@pytest.fixture(scope="module")
def stub():
    with StubServer() as server:
        yield server, install_dingtalk_auth(server)


def test_auth_code_to_user_and_mobile_with_one_token(stub):
    server, ding = stub
    client: DingTalkMiniProgramAuth = DingTalkSdkAuth(ding.app_key, ding.app_secret, api_base=server.base_url)
    user = client.user_from_auth_code(ding.auth_code("sun", "老孙", "13900000002"))
    assert (user.userid, user.unionid, user.name) == ("sun", "union-sun", "老孙")
    assert client.mobile_of("sun") == "13900000002"
    assert len(server.received("/v1.0/oauth2/accessToken")) == 1  # cached


def test_bad_code_and_bad_secret(stub):
    server, ding = stub
    client = DingTalkSdkAuth(ding.app_key, ding.app_secret, api_base=server.base_url)
    with pytest.raises(PlatformCodeInvalid) as info:
        client.user_from_auth_code("nope")
    assert info.value.details["errcode"] == 40078
    with pytest.raises(PlatformUnavailable):
        DingTalkSdkAuth(ding.app_key, "wrong", api_base=server.base_url).user_from_auth_code("x")
    with pytest.raises(PlatformUnavailable):
        client.mobile_of("nobody")
