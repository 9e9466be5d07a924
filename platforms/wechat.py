"""One wechatpy client per WeChat app (and per WeCom app) for the whole process, so its access token is reused.

The approval messages (workflows.messenger), the mini-program login (platforms.wechat_miniprogram)
and the bots (bot.platforms) used to build a client per call, and each new client fetched a fresh
access token. WeChat limits those fetches per day, and every fetch makes the previous token stop
working a few minutes later, so a token fetched per message could break a send still in flight.

The token lives in the client's wechatpy session storage: an in-process ``MemoryStorage``, like the
DingTalk cache in platforms.dingtalk. wechatpy reuses it until a minute before its ``expires_in`` and,
when WeChat answers 40001/40014/42001 (token invalid or expired), fetches a new one and retries once.
"""

from __future__ import annotations

import threading
from typing import Any

import requests
from wechatpy import WeChatClient
from wechatpy.enterprise import WeChatClient as WeComClient
from wechatpy.session.memorystorage import MemoryStorage

from platforms.redirect import redirect_requests_session

#: Seconds any WeChat or WeCom call may take, the token fetch included (the mini-program login's budget:
#: the user waits on it). A call may pass its own shorter ``timeout`` (the bots' media download does).
TIMEOUT_S = 5.0


class _TimeoutSession(requests.Session):
    """A requests session with a default timeout: wechatpy fetches the token with none at all."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.default_timeout = timeout

    def request(self, method: str, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self.default_timeout
        return super().request(method, url, *args, **kwargs)


#: The mixin's base as the type checker sees it: the wechatpy client it is mixed into (untyped).
_ClientBase: Any = object


class _OneFetchAtATime(_ClientBase):
    """Concurrent callers of a shared client wait for one token fetch instead of each fetching its own."""

    _token_lock: threading.RLock

    @property
    def access_token(self) -> str:
        # Reentrant: wechatpy's access_token calls fetch_access_token, which takes the lock too.
        with self._token_lock:
            return super().access_token

    def fetch_access_token(self) -> Any:
        with self._token_lock:
            return super().fetch_access_token()


class SharedWeChatClient(_OneFetchAtATime, WeChatClient):
    """wechatpy's official-account / mini-program client, shared by every caller of one app."""


class SharedWeComClient(_OneFetchAtATime, WeComClient):
    """wechatpy's WeCom (enterprise) client, shared by every caller of one corp app."""


_clients: dict[tuple[str, str | None, str, str], Any] = {}
_clients_lock = threading.Lock()


def _shared(kind: str, client_class: type, app_id: str, secret: str, api_base: str | None) -> Any:
    # The secret is part of the key so that a wrong secret is refused, never served another's token;
    # the api base is, so that a local stub's token never reaches the real servers (or one stub another's).
    key = (kind, (api_base or "").rstrip("/") or None, app_id, secret)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = client_class(app_id, secret, session=MemoryStorage(), timeout=TIMEOUT_S)
            client._token_lock = threading.RLock()
            client._http = redirect_requests_session(_TimeoutSession(TIMEOUT_S), key[1])
            _clients[key] = client
        return client


def wechat_client(app_id: str, secret: str, *, api_base: str | None = None) -> WeChatClient:
    """The process-wide wechatpy client of this WeChat app (official account or mini-program).

    ``api_base`` sends every call, the token fetch included, to a stand-in server (platforms.redirect).
    """
    client: WeChatClient = _shared("wechat", SharedWeChatClient, app_id, secret, api_base)
    return client


def wecom_client(corp_id: str, secret: str, *, api_base: str | None = None) -> WeComClient:
    """The process-wide wechatpy client of this WeCom app (corp id and the app's secret)."""
    client: WeComClient = _shared("wecom", SharedWeComClient, corp_id, secret, api_base)
    return client


def forget_wechat_clients() -> None:
    """Drop every shared client and its token (tests that count token requests against a fresh stub)."""
    with _clients_lock:
        _clients.clear()
