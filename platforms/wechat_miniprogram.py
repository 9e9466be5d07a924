"""WeChat mini-program login (code2session) and phone numbers (getPhoneNumber), through wechatpy."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import requests
from wechatpy.exceptions import WeChatClientException

from platforms.errors import PlatformCodeInvalid, PlatformUnavailable
from platforms.wechat import wechat_client

#: WeChat errcodes meaning "this code is no good": invalid code, code already used.
CODE_ERRORS = frozenset({40029, 40163, 41008})
#: getPhoneNumber: invalid or expired phone code.
PHONE_CODE_ERRORS = frozenset({40029, 40013, 47001, 40163})
PHONE_URL = "https://api.weixin.qq.com/wxa/business/getuserphonenumber"


@dataclass(frozen=True)
class MiniProgramSession:
    """What code2session returns. ``session_key`` is a secret: store it, never send it to a client."""

    openid: str
    unionid: str | None
    session_key: str = field(repr=False)


class WeChatMiniProgram(Protocol):
    """The two mini-program calls the API needs."""

    def code_to_session(self, code: str) -> MiniProgramSession:
        """Exchange a ``wx.login`` code for the user's openid (and unionid) and session key."""
        ...

    def phone_number(self, phone_code: str) -> str:
        """Return the verified phone number behind a ``getPhoneNumber`` button code."""
        ...


class WeChatPyMiniProgram:
    """The real implementation on wechatpy; ``api_base`` redirects every call (platforms.redirect)."""

    def __init__(self, app_id: str, app_secret: str, *, api_base: str | None = None) -> None:
        # The app's shared client (platforms.wechat): the approval messages use the same token, and its
        # calls, the token fetch included, keep the login's 5 s budget (platforms.wechat.TIMEOUT_S).
        self.client = wechat_client(app_id, app_secret, api_base=api_base)

    def code_to_session(self, code: str) -> MiniProgramSession:
        """Call ``jscode2session``; an invalid code is PlatformCodeInvalid, anything else PlatformUnavailable."""
        data = self._call(lambda: self.client.wxa.code_to_session(code), CODE_ERRORS)
        openid = data.get("openid")
        if not openid or not data.get("session_key"):
            raise PlatformUnavailable(reason="code2session answered without openid")
        return MiniProgramSession(openid=openid, unionid=data.get("unionid") or None,
                                  session_key=data["session_key"])

    def phone_number(self, phone_code: str) -> str:
        """Call ``wxa/business/getuserphonenumber`` (needs the access token, fetched by wechatpy)."""
        data = self._call(lambda: self.client.post(PHONE_URL, data={"code": phone_code}),
                          PHONE_CODE_ERRORS, message="手机号授权无效或已过期，请重新授权")
        info = data.get("phone_info") or {}
        phone = info.get("purePhoneNumber") or info.get("phoneNumber")
        if not phone:
            raise PlatformUnavailable(reason="getuserphonenumber answered without a number")
        return str(phone)

    @staticmethod
    def _call(fn: Any, code_errors: frozenset[int], message: str | None = None) -> dict[str, Any]:
        try:
            return dict(fn())
        except WeChatClientException as exc:
            if exc.errcode in code_errors:
                raise PlatformCodeInvalid(message, errcode=exc.errcode) from exc
            raise PlatformUnavailable(errcode=exc.errcode) from exc
        except requests.RequestException as exc:
            raise PlatformUnavailable(reason=type(exc).__name__) from exc
