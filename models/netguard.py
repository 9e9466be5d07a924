"""Outbound URLs we call (webhooks) may not reach our own network: no loopback, private, link-local,
metadata or otherwise non-public address, checked on subscribe and again right before each call.

Two test-only escapes, from the one settings object (app.settings) when a URL is checked, through the
``escapes`` hook it installs (the model never imports the app; unset, nothing is let through):

- ``LIUZHUAN_WEBHOOK_ALLOW_HTTP=1`` accepts ``http://`` besides ``https://`` (local development only).
- ``LIUZHUAN_WEBHOOK_ALLOW_HOSTS=127.0.0.1:8081,...`` lets exactly these ``host:port`` pairs through the
  address check. It exists for the test suite's local HTTP stubs; never set it in production.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from models.errors import WebhookUrlForbidden

MAX_URL_LENGTH = 512
_METADATA = {ipaddress.ip_address("169.254.169.254"), ipaddress.ip_address("fd00:ec2::254")}

#: ``(host, port) -> addresses``; replaceable in tests that have no DNS.
Resolver = Callable[[str, int], list[str]]


def _system_resolve(host: str, port: int) -> list[str]:
    return sorted({str(info[4][0]) for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


resolve: Resolver = _system_resolve


@dataclass(frozen=True)
class CheckedUrl:
    url: str
    scheme: str
    host: str
    port: int
    #: The public addresses the host resolved to when checked: connect to one of these, not to a fresh lookup.
    addresses: tuple[str, ...]


def _no_escapes() -> tuple[bool, frozenset[str]]:
    return False, frozenset()


#: ``() -> (allow http://, host:port pairs let through)``; app.settings sets it from LIUZHUAN_WEBHOOK_ALLOW_*.
escapes: Callable[[], tuple[bool, frozenset[str]]] = _no_escapes


def forbidden_address(address: str) -> bool:
    """Tell whether an IP address is anything but a public unicast address."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return True
    if isinstance(ip, ipaddress.IPv6Address):
        mapped = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if mapped is not None and forbidden_address(str(mapped)):
            return True
    return (ip in _METADATA or ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved
            or ip.is_multicast or ip.is_unspecified or not ip.is_global)


def check_url(url: str) -> CheckedUrl:
    """Return the URL with its checked addresses, or raise WebhookUrlForbidden naming the reason."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise WebhookUrlForbidden(f"网址须是不超过 {MAX_URL_LENGTH} 个字符的 https:// 地址", field="url")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise WebhookUrlForbidden("网址格式无效", field="url") from None
    allow_http, allowed_hosts = escapes()
    if parts.scheme != "https" and not (parts.scheme == "http" and allow_http):
        raise WebhookUrlForbidden("网址须以 https:// 开头", field="url")
    host = (parts.hostname or "").lower()
    if not host or parts.username is not None or parts.password is not None:
        raise WebhookUrlForbidden("网址须有主机名，且不能带用户名密码", field="url")
    port = port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = resolve(host, port)
    except (OSError, UnicodeError):
        raise WebhookUrlForbidden(f"无法解析网址的主机名：{host}", field="url") from None
    if not addresses:
        raise WebhookUrlForbidden(f"无法解析网址的主机名：{host}", field="url")
    if f"{host}:{port}" not in allowed_hosts:
        bad = [a for a in addresses if forbidden_address(a)]
        if bad:
            raise WebhookUrlForbidden("网址指向内网、本机或保留地址，不允许推送", field="url", address=bad[0])
    return CheckedUrl(url, parts.scheme, host, port, tuple(addresses))
