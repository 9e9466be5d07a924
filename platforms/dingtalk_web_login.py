"""DingTalk web QR sign-in (the new OAuth2, "扫码登录第三方网站"), for the manager console.

The browser goes to ``login.dingtalk.com/oauth2/auth`` (which shows the QR code) and comes back to our
callback with ``authCode`` and ``state``. Then, through the official SDK (alibabacloud-dingtalk):
``POST /v1.0/oauth2/userAccessToken`` (the user's token), ``GET /v1.0/contact/users/me`` (unionId),
and with the app token (platforms.dingtalk's shared cache) ``topapi/user/getbyunionid`` → the userid our
members are bound by (IdentityProvider.DINGTALK_USERID). ``DINGTALK_API_BASE`` sends all of it to a stub.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import requests
from Tea.exceptions import TeaException, UnretryableException

from platforms.dingtalk import dingtalk_tokens
from platforms.errors import PlatformCodeInvalid, PlatformUnavailable
from platforms.redirect import dingtalk_sdk_config, oapi_base

#: userAccessToken's error codes for a bad, used or expired authCode.
CODE_ERRORS = frozenset({"invalidAuthCode", "authCodeExpired", "invalidCode", "Forbidden.AccessDenied.AuthCode"})
#: getbyunionid: the user is not in the app's organisation (60121 找不到该用户).
NOT_IN_ORG = frozenset({60121, 60111})
TIMEOUT_S = 5


@dataclass(frozen=True)
class DingTalkWebUser:
    unionid: str
    #: None when the person is not in the app's organisation (a stranger's DingTalk account).
    userid: str | None
    nick: str | None


class DingTalkWebLogin:
    def __init__(self, app_key: str, app_secret: str, *, login_base: str = "https://login.dingtalk.com",
                 api_base: str | None = None) -> None:
        self.app_key, self._app_secret = app_key, app_secret
        self.login_base = login_base.rstrip("/")
        self.api_base = api_base
        self.http = requests.Session()

    def authorize_url(self, redirect_uri: str, state: str) -> str:
        """The page that shows the QR code (on a phone with DingTalk: opens the app)."""
        return f"{self.login_base}/oauth2/auth?" + urlencode({
            "redirect_uri": redirect_uri, "response_type": "code", "client_id": self.app_key,
            "scope": "openid", "state": state, "prompt": "consent"})

    def user_from_auth_code(self, auth_code: str) -> DingTalkWebUser:
        from alibabacloud_dingtalk.contact_1_0 import models as contact_models
        from alibabacloud_dingtalk.contact_1_0.client import Client as ContactClient
        from alibabacloud_dingtalk.oauth2_1_0 import models as oauth_models
        from alibabacloud_dingtalk.oauth2_1_0.client import Client as OAuthClient
        from alibabacloud_tea_util.models import RuntimeOptions

        config = dingtalk_sdk_config(self.api_base)
        try:
            token = OAuthClient(config).get_user_token(oauth_models.GetUserTokenRequest(
                client_id=self.app_key, client_secret=self._app_secret, code=auth_code,
                grant_type="authorization_code")).body.access_token
        except TeaException as exc:
            if getattr(exc, "code", None) in CODE_ERRORS or getattr(exc, "status_code", None) == 400:
                raise PlatformCodeInvalid("钉钉登录码无效或已过期，请重新扫码", reason=exc.code) from exc
            raise PlatformUnavailable(reason=exc.code) from exc
        except UnretryableException as exc:
            raise PlatformUnavailable(reason=type(exc).__name__) from exc
        try:
            me = ContactClient(config).get_user_with_options(
                "me", contact_models.GetUserHeaders(x_acs_dingtalk_access_token=token), RuntimeOptions()).body
        except (TeaException, UnretryableException) as exc:
            raise PlatformUnavailable(reason=getattr(exc, "code", None) or type(exc).__name__) from exc
        if not me.union_id:
            raise PlatformUnavailable(reason="users/me answered without unionId")
        return DingTalkWebUser(unionid=str(me.union_id), userid=self._userid_of(str(me.union_id)), nick=me.nick)

    def _userid_of(self, unionid: str) -> str | None:
        """POST topapi/user/getbyunionid {unionid} (app token) → result.userid; None: not in the organisation."""
        try:
            app_token = dingtalk_tokens(self.app_key, self._app_secret, self.api_base).get()
            resp = self.http.post(f"{oapi_base(self.api_base)}/topapi/user/getbyunionid",
                                  params={"access_token": app_token}, json={"unionid": unionid}, timeout=TIMEOUT_S)
            data: dict[str, Any] = resp.json()
        except (TeaException, UnretryableException) as exc:
            raise PlatformUnavailable(reason=getattr(exc, "code", None) or type(exc).__name__) from exc
        except (requests.RequestException, ValueError) as exc:
            raise PlatformUnavailable(reason=type(exc).__name__) from exc
        errcode = int(data.get("errcode", -1))
        if errcode in NOT_IN_ORG:
            return None
        if errcode != 0:
            raise PlatformUnavailable(errcode=errcode)
        userid = (data.get("result") or {}).get("userid")
        return str(userid) if userid else None
