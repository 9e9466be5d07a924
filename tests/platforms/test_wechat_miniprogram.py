"""The real wechatpy client against the mini-program stub: code2session, getPhoneNumber, errors."""

from __future__ import annotations

import pytest

from devstubs.server import StubServer
from devstubs.wechat_miniprogram import install_wechat_miniprogram
from platforms.errors import PlatformCodeInvalid, PlatformUnavailable
from platforms.wechat_miniprogram import WeChatMiniProgram, WeChatPyMiniProgram


@pytest.fixture(scope="module")
def stub():
    with StubServer() as server:
        yield server, install_wechat_miniprogram(server)


def test_code_to_session_keeps_the_session_key_out_of_repr(stub):
    server, wx = stub
    client: WeChatMiniProgram = WeChatPyMiniProgram(wx.appid, wx.secret, api_base=server.base_url)
    session = client.code_to_session(wx.login_code("o-1", "u-1"))
    assert (session.openid, session.unionid) == ("o-1", "u-1") and session.session_key
    assert session.session_key not in repr(session)
    assert server.received("/sns/jscode2session")[-1].query["grant_type"] == "authorization_code"


def test_invalid_and_used_codes(stub):
    server, wx = stub
    client = WeChatPyMiniProgram(wx.appid, wx.secret, api_base=server.base_url)
    with pytest.raises(PlatformCodeInvalid) as bad:
        client.code_to_session("made-up")
    assert bad.value.details["errcode"] == 40029 and bad.value.http_status == 401
    code = wx.login_code("o-2")
    client.code_to_session(code)
    with pytest.raises(PlatformCodeInvalid) as used:
        client.code_to_session(code)
    assert used.value.details["errcode"] == 40163


def test_wrong_secret_is_platform_unavailable_not_a_bad_code(stub):
    server, wx = stub
    client = WeChatPyMiniProgram(wx.appid, "wrong", api_base=server.base_url)
    with pytest.raises(PlatformUnavailable) as info:
        client.code_to_session(wx.login_code("o-3"))
    assert info.value.details["errcode"] == 40125 and info.value.http_status == 502


def test_phone_number(stub):
    server, wx = stub
    client = WeChatPyMiniProgram(wx.appid, wx.secret, api_base=server.base_url)
    assert client.phone_number(wx.phone_code("13800000001")) == "13800000001"
    with pytest.raises(PlatformCodeInvalid):
        client.phone_number("nope")


def test_unreachable_platform():
    client = WeChatPyMiniProgram("a", "b", api_base="http://127.0.0.1:9")
    with pytest.raises(PlatformUnavailable):
        client.code_to_session("x")
