"""DingTalk mini-program login: free-login auth code -> user id (and phone), via DingTalk's APIs.

The app access token comes from the new API through the official SDK (alibabacloud-dingtalk,
``oauth2_1_0``), cached once per app for the whole process (platforms.dingtalk); the auth code
is exchanged at ``topapi/v2/user/getuserinfo`` (the documented mini-program free-login call,
which the new API has no equivalent for) and the mobile number at ``topapi/v2/user/get``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import requests
from Tea.exceptions import TeaException, UnretryableException

from platforms.dingtalk import dingtalk_tokens
from platforms.errors import PlatformCodeInvalid, PlatformUnavailable
from platforms.redirect import oapi_base

#: getuserinfo errcodes for a bad code: "不存在的临时授权码", "临时授权码已失效".
CODE_ERRORS = frozenset({40078, 40079, 40014})


@dataclass(frozen=True)
class DingTalkUser:
    userid: str
    unionid: str | None
    name: str | None


class DingTalkMiniProgramAuth(Protocol):
    def user_from_auth_code(self, auth_code: str) -> DingTalkUser:
        """Exchange a ``dd.getAuthCode`` code for the user's id in the organisation."""
        ...

    def mobile_of(self, userid: str) -> str | None:
        """Return the user's mobile number as the organisation registered it (None if hidden)."""
        ...


class DingTalkSdkAuth:
    """Real implementation; ``api_base`` (http://host:port) sends every call there (platforms.redirect)."""

    def __init__(self, app_key: str, app_secret: str, *, api_base: str | None = None) -> None:
        self.app_key, self.app_secret = app_key, app_secret
        self.oapi_base = oapi_base(api_base)
        self.tokens = dingtalk_tokens(app_key, app_secret, api_base)
        self.http = requests.Session()

    def access_token(self) -> str:
        """The app access token, shared with every other DingTalk caller (platforms.dingtalk)."""
        try:
            return self.tokens.get()
        except (TeaException, UnretryableException) as exc:
            raise PlatformUnavailable(reason=getattr(exc, "code", None) or type(exc).__name__) from exc

    def _oapi(self, path: str, payload: dict[str, Any], code_errors: frozenset[int] = frozenset()) -> dict[str, Any]:
        try:
            resp = self.http.post(f"{self.oapi_base}/{path}", params={"access_token": self.access_token()},
                                  json=payload, timeout=5)
            data = resp.json()
        except (requests.RequestException, ValueError) as exc:
            raise PlatformUnavailable(reason=type(exc).__name__) from exc
        errcode = int(data.get("errcode", -1))
        if errcode in code_errors:
            raise PlatformCodeInvalid(errcode=errcode)
        if errcode != 0:
            raise PlatformUnavailable(errcode=errcode)
        return data.get("result") or {}

    def user_from_auth_code(self, auth_code: str) -> DingTalkUser:
        """POST topapi/v2/user/getuserinfo {code} -> result.userid."""
        result = self._oapi("topapi/v2/user/getuserinfo", {"code": auth_code}, CODE_ERRORS)
        if not result.get("userid"):
            raise PlatformUnavailable(reason="getuserinfo answered without userid")
        return DingTalkUser(userid=str(result["userid"]), unionid=result.get("unionid") or None,
                            name=result.get("name") or None)

    def mobile_of(self, userid: str) -> str | None:
        """POST topapi/v2/user/get {userid} -> result.mobile."""
        return self._oapi("topapi/v2/user/get", {"userid": userid}).get("mobile") or None
