"""Send a platform SDK's HTTP to another host (a local stand-in of WeChat's or DingTalk's servers).

The SDKs hard-code their hosts (api.weixin.qq.com, api.dingtalk.com, oapi.dingtalk.com). When a
setting (``WECHAT_API_BASE``, ``DINGTALK_API_BASE``, ``LIUZHUAN_PLATFORM_API_BASE``) names a base
URL, every call keeps its path and query and goes there instead; without one nothing changes.
This lives in platforms/ so production code never imports the stubs themselves.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter


class RedirectAdapter(HTTPAdapter):
    """Rewrite scheme and host of every request to ``base_url``, keeping path and query."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.base_url = base_url.rstrip("/")

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        parts = urlsplit(request.url or "")
        request.url = f"{self.base_url}{parts.path}" + (f"?{parts.query}" if parts.query else "")
        return super().send(request, *args, **kwargs)


def redirect_requests_session(session: requests.Session, base_url: str | None) -> requests.Session:
    """Make a requests session (e.g. a wechatpy client's ``_http``) talk to ``base_url``; None: unchanged."""
    if base_url:
        adapter = RedirectAdapter(base_url)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
    return session


def _split(base_url: str) -> tuple[str, str]:
    """(scheme, host:port) of a base URL; a bare ``host:port`` means http."""
    parts = urlsplit(base_url if "://" in base_url else f"http://{base_url}")
    return parts.scheme or "http", parts.netloc


def dingtalk_sdk_config(api_base: str | None) -> Any:
    """The alibabacloud-dingtalk ``Config`` for api.dingtalk.com, or for ``api_base`` when set."""
    from alibabacloud_tea_openapi.models import Config

    if api_base:
        scheme, netloc = _split(api_base)
        return Config(protocol=scheme, endpoint=netloc, region_id="central")
    return Config(protocol="https", region_id="central")


def oapi_base(api_base: str | None) -> str:
    """Base URL of DingTalk's old ``oapi`` host (topapi/…), or ``api_base`` when set."""
    return api_base.rstrip("/") if api_base else "https://oapi.dingtalk.com"
