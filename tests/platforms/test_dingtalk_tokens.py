"""One DingTalk app token per app for the whole process: the bot, the approval cards and the login share it."""

from __future__ import annotations

import threading

import pytest
from Tea.exceptions import TeaException

from bot.platforms import BotConfig, DingTalk
from devstubs.dingtalk_auth import install_dingtalk_auth
from devstubs.dingtalk_cards import install_dingtalk_cards
from devstubs.dingtalk_robot import install_robot_messages
from devstubs.server import StubServer
from platforms.dingtalk import DingTalkTokenCache, dingtalk_tokens
from platforms.dingtalk_auth import DingTalkSdkAuth
from platforms.errors import PlatformUnavailable
from workflows.messenger import PlatformMessenger

TOKEN_PATH = "/v1.0/oauth2/accessToken"


def test_bot_cards_and_login_fetch_the_token_once_and_use_the_same_one():
    with StubServer() as server:
        ding = install_dingtalk_auth(server)
        install_robot_messages(server)
        cards = install_dingtalk_cards(server)
        bot = DingTalk(BotConfig(dingtalk_app_key=ding.app_key, dingtalk_app_secret=ding.app_secret,
                                 dingtalk_robot_code=ding.app_key, api_base=server.base_url))
        messenger = PlatformMessenger(dingtalk_key=ding.app_key, dingtalk_secret=ding.app_secret,
                                      card_template_id="tpl", robot_code=ding.app_key,
                                      dingtalk_base=server.base_url)
        login = DingTalkSdkAuth(ding.app_key, ding.app_secret, api_base=server.base_url)

        bot.push_text("sun", "你好")
        bot.push_text("sun", "再见")  # the bot used to fetch a token on every call
        messenger.send_card("track-1", ["sun"], {"title": "审批"})
        messenger.update_card("track-1", {"title": "已同意"})
        assert login.user_from_auth_code(ding.auth_code("sun", "老孙")).userid == "sun"

        assert len(server.received(TOKEN_PATH)) == 1
        used = {r.headers["x-acs-dingtalk-access-token"].strip('"')
                for path in ("/v1.0/robot/oToMessages/batchSend", "/v1.0/card/instances/createAndDeliver",
                             "/v1.0/card/instances") for r in server.received(path)}
        used |= {r.query["access_token"] for r in server.received("/topapi/v2/user/getuserinfo")}
        assert len(used) == 1 and next(iter(used)).startswith("stub-ding-")
        assert cards.params("track-1")["title"] == "已同意"


def test_concurrent_callers_wait_for_one_fetch():
    with StubServer() as server:
        ding = install_dingtalk_auth(server)
        got: list[str] = []
        barrier = threading.Barrier(8)

        def call() -> None:
            barrier.wait()
            got.append(dingtalk_tokens(ding.app_key, ding.app_secret, server.base_url).get())

        threads = [threading.Thread(target=call) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(got) == 8 and len(set(got)) == 1
        assert len(server.received(TOKEN_PATH)) == 1


def test_the_token_is_refreshed_before_it_expires():
    with StubServer() as server:
        ding = install_dingtalk_auth(server)  # the stub answers expireIn 7200
        now = [1000.0]
        cache = DingTalkTokenCache(ding.app_key, ding.app_secret, server.base_url, clock=lambda: now[0])
        first = cache.get()
        now[0] += 7200 - 300 - 1  # still more than five minutes left: reused
        assert cache.get() == first
        assert len(server.received(TOKEN_PATH)) == 1
        now[0] += 1  # five minutes before DingTalk's expiry: fetched anew
        second = cache.get()
        assert second != first and second.startswith("stub-ding-")
        assert len(server.received(TOKEN_PATH)) == 2
        cache.invalidate()
        assert cache.get() not in (first, second)
        assert len(server.received(TOKEN_PATH)) == 3


def test_a_wrong_secret_never_gets_the_cached_token():
    with StubServer() as server:
        ding = install_dingtalk_auth(server)
        assert dingtalk_tokens(ding.app_key, ding.app_secret, server.base_url).get().startswith("stub-ding-")
        with pytest.raises(TeaException):
            dingtalk_tokens(ding.app_key, "wrong", server.base_url).get()
        with pytest.raises(PlatformUnavailable):
            DingTalkSdkAuth(ding.app_key, "wrong", api_base=server.base_url).access_token()
        assert len(server.received(TOKEN_PATH)) == 3  # one good fetch, two refused ones (nothing cached)


def test_one_cache_per_app_and_host():
    a = dingtalk_tokens("key-a", "s", "http://127.0.0.1:1/")
    assert dingtalk_tokens("key-a", "s", "http://127.0.0.1:1") is a
    assert dingtalk_tokens("key-b", "s", "http://127.0.0.1:1") is not a
    assert dingtalk_tokens("key-a", "s", None) is not a
