"""platforms.redirect: the *_API_BASE settings move the SDKs' calls; without one nothing changes."""

from __future__ import annotations

import requests

from platforms.redirect import RedirectAdapter, dingtalk_sdk_config, oapi_base, redirect_requests_session


def test_dingtalk_config_follows_the_api_base():
    real = dingtalk_sdk_config(None)
    assert (real.protocol, real.endpoint, real.region_id) == ("https", None, "central")
    stub = dingtalk_sdk_config("http://127.0.0.1:8123/")
    assert (stub.protocol, stub.endpoint) == ("http", "127.0.0.1:8123")
    bare = dingtalk_sdk_config("127.0.0.1:8123")  # LIUZHUAN_PLATFORM_API_BASE without a scheme
    assert (bare.protocol, bare.endpoint) == ("http", "127.0.0.1:8123")
    assert oapi_base(None) == "https://oapi.dingtalk.com"
    assert oapi_base("http://127.0.0.1:8123/") == "http://127.0.0.1:8123"


def test_a_session_is_redirected_only_when_a_base_is_set():
    session = requests.Session()
    redirect_requests_session(session, None)
    assert not isinstance(session.get_adapter("https://api.weixin.qq.com/cgi-bin/token"), RedirectAdapter)
    redirect_requests_session(session, "http://127.0.0.1:8123")
    adapter = session.get_adapter("https://api.weixin.qq.com/cgi-bin/token")
    assert isinstance(adapter, RedirectAdapter) and adapter.base_url == "http://127.0.0.1:8123"
