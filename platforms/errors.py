"""Errors a platform answer turns into: stable codes, Chinese messages, no platform secrets."""

from __future__ import annotations

from models.errors import DomainError


class PlatformCodeInvalid(DomainError):
    """The login code was wrong, used twice or expired (WeChat 40029/40163, DingTalk 40078)."""

    code = "LOGIN_CODE_INVALID"
    http_status = 401
    default_message = "登录码无效或已过期，请重新打开小程序"


class PlatformUnavailable(DomainError):
    """The platform refused us (bad app secret, rate limit) or could not be reached."""

    code = "PLATFORM_UNAVAILABLE"
    http_status = 502
    default_message = "暂时无法连接微信/钉钉，请稍后再试"


class PlatformNotConfigured(DomainError):
    code = "PLATFORM_NOT_CONFIGURED"
    http_status = 404
    default_message = "本系统未开通这种登录方式"
