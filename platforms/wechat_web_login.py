"""WeChat website QR sign-in (open platform 网站应用, scope ``snsapi_login``), for the manager console.

The browser goes to ``open.weixin.qq.com/connect/qrconnect`` (the QR page) and comes back with ``code``
and ``state``; ``sns/oauth2/access_token`` (wechatpy's WeChatOAuth) turns the code into the openid and,
for an app bound to the open platform, the unionid: the identity the mini-program binds too.
``WECHAT_API_BASE`` sends the token call to a stub; ``WECHAT_OPEN_BASE`` the browser.
"""

from __future__ import annotations

from dataclasses import dataclass

import requests
from wechatpy.exceptions import WeChatOAuthException
from wechatpy.oauth import WeChatOAuth

from platforms.errors import PlatformCodeInvalid, PlatformUnavailable
from platforms.redirect import redirect_requests_session
from platforms.wechat import TIMEOUT_S, _TimeoutSession

#: sns/oauth2/access_token errcodes for a bad or used code.
CODE_ERRORS = frozenset({40029, 40163, 41008})


@dataclass(frozen=True)
class WeChatWebUser:
    openid: str
    unionid: str | None


class WeChatWebLogin:
    def __init__(self, app_id: str, app_secret: str, *, open_base: str = "https://open.weixin.qq.com",
                 api_base: str | None = None) -> None:
        self.app_id, self._app_secret = app_id, app_secret
        self.open_base = open_base.rstrip("/")
        self.api_base = api_base

    def _oauth(self, redirect_uri: str = "", state: str = "") -> WeChatOAuth:
        oauth = WeChatOAuth(self.app_id, self._app_secret, redirect_uri, scope="snsapi_login", state=state)
        oauth.OAUTH_BASE_URL = f"{self.open_base}/connect/"
        oauth._http = redirect_requests_session(_TimeoutSession(TIMEOUT_S), self.api_base)
        return oauth

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        """The QR page (``connect/qrconnect?…&scope=snsapi_login&state=…#wechat_redirect``)."""
        return str(self._oauth(redirect_uri, state).qrconnect_url)

    def user_from_code(self, code: str) -> WeChatWebUser:
        try:
            data = self._oauth().fetch_access_token(code)
        except WeChatOAuthException as exc:
            if exc.errcode in CODE_ERRORS:
                raise PlatformCodeInvalid("微信登录码无效或已过期，请重新扫码", errcode=exc.errcode) from exc
            raise PlatformUnavailable(errcode=exc.errcode) from exc
        except requests.RequestException as exc:
            raise PlatformUnavailable(reason=type(exc).__name__) from exc
        if not data.get("openid"):
            raise PlatformUnavailable(reason="access_token answered without openid")
        return WeChatWebUser(openid=str(data["openid"]), unionid=data.get("unionid") or None)
