"""The node side of headquarters sync: `python -m app.cli sync --once` signs a hello and posts it.

Only the hello exists so far (issue 14, first slice): it proves the key, the clock and the link, and
tells the node which sites it serves. Replicating moves up and master data down comes later.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import requests
from sqlalchemy.orm import Session, sessionmaker

from app.settings import Settings
from models.base import utcnow
from models.operations.node_auth import signed_headers
from models.operations.nodes import RecordSync, record_sync
from models.uow import run

HELLO_PATH = "/api/v1/nodes/hello"
VERSION = "1"
TIMEOUT = (5, 30)  # connect, read (seconds): a weak uplink, but never hang a sync forever


def hello_request(settings: Settings) -> tuple[str, bytes, dict[str, str]]:
    """The URL, body and signed headers of a hello from this node."""
    body = json.dumps({"node": settings.node_name, "version": VERSION, "sent_at": utcnow().isoformat()}).encode()
    headers = signed_headers(settings.node_name, settings.node_key or "", "POST", HELLO_PATH, body)
    headers["Content-Type"] = "application/json"
    return (settings.hq_url or "").rstrip("/") + HELLO_PATH, body, headers


def sync_once(settings: Settings, session_factory: sessionmaker[Session],
              out: Callable[[str], Any] = print) -> int:
    """One exchange with headquarters; prints the outcome in Chinese and returns the exit status (0/1)."""
    if not settings.hq_url or not settings.node_key or settings.node_name == "server":
        out("同步失败：本机不是站点节点，请设置 LIUZHUAN_NODE、LIUZHUAN_HQ_URL 和 LIUZHUAN_NODE_KEY")
        return 1
    url, body, headers = hello_request(settings)
    code = settings.node_name
    try:
        resp = requests.post(url, data=body, headers=headers, timeout=TIMEOUT)
    except requests.RequestException as exc:
        message = f"连不上总部（{type(exc).__name__}）"
        run(session_factory, record_sync, RecordSync(code, ok=False, error=message))
        out(f"同步失败：{message}：{url}")
        return 1
    try:
        answer = resp.json()
    except ValueError:
        answer = None
    if resp.status_code != 200 or not isinstance(answer, dict) or "server_time" not in answer:
        error = (answer or {}).get("error", {}) if isinstance(answer, dict) else {}
        message = f"{error.get('message', '总部的回答无法识别')}（{error.get('code', f'HTTP {resp.status_code}')}）"
        run(session_factory, record_sync, RecordSync(code, ok=False, error=message))
        out(f"同步失败：{message}")
        return 1
    hq_time = datetime.fromisoformat(answer["server_time"])
    run(session_factory, record_sync, RecordSync(code, ok=True, hq_time=hq_time))
    sites = "、".join(f"{s['name']}（{s['code']}）" for s in answer.get("sites", [])) or "无"
    out(f"已连接总部：节点 {answer.get('node', code)}，总部时间 {answer['server_time']}；服务站点：{sites}。"
        "（数据同步尚未开放：本次只校验了密钥与时钟）")
    return 0
