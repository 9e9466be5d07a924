"""One DingTalk app access token per app, shared by every caller in the process.

The bot's robot calls, the approval cards (workflows.messenger) and the mini-program login
(platforms.dingtalk_auth) all need the same app token. DingTalk limits how often it may be
fetched and each fetch is a round trip, so one cache per (api base, app key, secret) serves them
all and refreshes a few minutes before the token expires.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from platforms.redirect import dingtalk_sdk_config

#: Refresh this long before DingTalk's expiry, so a token is never used in its last minutes.
REFRESH_MARGIN_S = 300
#: Whatever DingTalk answers, keep a token at least this long (a tiny expireIn must not cause a fetch storm).
MIN_LIFETIME_S = 60


class DingTalkTokenCache:
    """The app access token (``oauth2/accessToken``) of one app; thread-safe, fetched at most once at a time.

    SDK errors (TeaException, UnretryableException) pass through: each caller maps them to its own error.
    """

    def __init__(self, app_key: str, app_secret: str, api_base: str | None = None, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.app_key, self._app_secret, self.api_base = app_key, app_secret, api_base
        self._clock = clock
        self._token: tuple[str, float] | None = None
        self._lock = threading.Lock()

    def get(self) -> str:
        """The cached token, fetched when absent or within REFRESH_MARGIN_S of its expiry."""
        with self._lock:
            if self._token and self._clock() < self._token[1]:
                return self._token[0]
            from alibabacloud_dingtalk.oauth2_1_0 import models as oauth_models
            from alibabacloud_dingtalk.oauth2_1_0.client import Client as OAuthClient

            body = OAuthClient(dingtalk_sdk_config(self.api_base)).get_access_token(
                oauth_models.GetAccessTokenRequest(app_key=self.app_key, app_secret=self._app_secret)).body
            lifetime = max(MIN_LIFETIME_S, int(body.expire_in or 7200) - REFRESH_MARGIN_S)
            self._token = (str(body.access_token), self._clock() + lifetime)
            return self._token[0]

    def invalidate(self) -> None:
        """Forget the token (the platform refused it); the next get() fetches a new one."""
        with self._lock:
            self._token = None


_caches: dict[tuple[str | None, str, str], DingTalkTokenCache] = {}
_caches_lock = threading.Lock()


def dingtalk_tokens(app_key: str, app_secret: str, api_base: str | None = None) -> DingTalkTokenCache:
    """The process-wide token cache of this app (one per api base, app key and secret)."""
    # The secret is part of the key so that a wrong secret is refused, never served another's token.
    key = ((api_base or "").rstrip("/") or None, app_key, app_secret)
    with _caches_lock:
        cache = _caches.get(key)
        if cache is None:
            cache = _caches[key] = DingTalkTokenCache(app_key, app_secret, api_base)
        return cache


def forget_dingtalk_tokens() -> None:
    """Drop every cached token (tests that count token requests against a fresh stub)."""
    with _caches_lock:
        _caches.clear()
