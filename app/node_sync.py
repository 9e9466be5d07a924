"""The node side of headquarters sync: `python -m app.cli sync --once` exchanges until caught up.

Each round trip (``POST /api/v1/nodes/sync``, signed and gzip-compressed) sends the next batch of
this node's change log and its down cursors, and applies headquarters' answer
(models.operations.node_replica; headquarters' side is models.operations.node_exchange). A round
that fails — no link, a refusal, the process killed — leaves both sides consistent: the next one
resends what headquarters has not acknowledged, and headquarters skips what it already has.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, cast

import requests
from sqlalchemy.orm import Session, sessionmaker

from app.settings import Settings
from models.base import utcnow
from models.operations.node_auth import signed_headers
from models.operations.node_replica import apply_answer, backlog, down_request, identity, up_batch
from models.operations.nodes import RecordSync, record_sync
from models.uow import run

HELLO_PATH = "/api/v1/nodes/hello"
SYNC_PATH = "/api/v1/nodes/sync"
VERSION = "1"
TIMEOUT = (5, 30)  # connect, read (seconds): a weak uplink, but never hang a sync forever


def _post(settings: Settings, path: str, payload: dict[str, Any]) -> requests.Response:
    """POST a signed, gzip-compressed JSON body to headquarters (the signature covers the bytes sent)."""
    body = gzip.compress(json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode(), 6)
    headers = signed_headers(settings.node_name, settings.node_key or "", "POST", path, body)
    headers.update({"Content-Type": "application/json", "Content-Encoding": "gzip"})
    return requests.post((settings.hq_url or "").rstrip("/") + path, data=body, headers=headers, timeout=TIMEOUT)


def _refusal(resp: requests.Response) -> str | None:
    try:
        answer = resp.json()
    except ValueError:
        answer = None
    if resp.status_code == 200 and isinstance(answer, dict) and "server_time" in answer:
        return None
    error = (answer or {}).get("error", {}) if isinstance(answer, dict) else {}
    return f"{error.get('message', '总部的回答无法识别')}（{error.get('code', f'HTTP {resp.status_code}')}）"


def exchange_once(settings: Settings, session_factory: sessionmaker[Session]) -> dict[str, Any]:
    """One round trip: send the next batch and the down cursors, apply the answer. Returns figures
    (rows up and down, conflicts, whether more is waiting); raises SyncFailed with a Chinese reason."""
    with session_factory() as session:
        batch = up_batch(session)
        down = down_request(session)
        me = identity(session)
        session.commit()  # the state row (and its epoch) is made once, on the first exchange
    pending, since = 0, None
    if batch is not None:
        with session_factory() as session:
            count, oldest = backlog(session)
            pending, since = max(0, count - len(batch["entries"])), oldest
    payload = {"node": settings.node_name, "version": VERSION, "sent_at": utcnow().isoformat(), **me, "up": batch,
               "pending": pending, "pending_since": since.isoformat() if since else None, "down": down}
    try:
        resp = _post(settings, SYNC_PATH, payload)
    except requests.RequestException as exc:
        raise SyncFailed(f"连不上总部（{type(exc).__name__}）") from None
    refused = _refusal(resp)
    if refused:
        raise SyncFailed(refused)
    answer = resp.json()
    applied = run(session_factory, apply_answer, answer)
    sent = len(batch["entries"]) if batch else 0
    acked_all = batch is None or answer.get("up_seq", 0) >= batch["entries"][-1][0]
    return {"up": sent if acked_all else 0, "down": applied["down_rows"], "conflicts": int(answer.get("conflicts", 0)),
            "more": bool(applied["down_more"]) or (batch is not None and acked_all and pending > 0)
            or (batch is not None and not acked_all),
            "server_time": answer["server_time"],
            "bytes": len(cast(bytes, resp.request.body or b""))}


class SyncFailed(Exception):
    """An exchange did not complete; the message says why, in Chinese."""


def sync_once(settings: Settings, session_factory: sessionmaker[Session],
              out: Callable[[str], Any] = print, max_rounds: int = 1000) -> int:
    """Exchange with headquarters until both sides are caught up; prints the outcome in Chinese and
    returns the exit status (0 when everything was sent and received, 1 otherwise)."""
    if not settings.hq_url or not settings.node_key or settings.node_name == "server":
        out("同步失败：本机不是站点节点，请设置 LIUZHUAN_NODE、LIUZHUAN_HQ_URL 和 LIUZHUAN_NODE_KEY")
        return 1
    code = settings.node_name
    up = down = conflicts = 0
    try:
        for _ in range(max_rounds):
            got = exchange_once(settings, session_factory)
            up, down, conflicts = up + got["up"], down + got["down"], conflicts + got["conflicts"]
            if not got["more"]:
                break
    except SyncFailed as exc:
        run(session_factory, record_sync, RecordSync(code, ok=False, error=str(exc)))
        out(f"同步失败：{exc}（已送达的部分不会重复，下次从断点继续）")
        return 1
    hq_time = datetime.fromisoformat(got["server_time"])
    run(session_factory, record_sync, RecordSync(code, ok=True, hq_time=hq_time))
    out(f"同步完成：节点 {code}，上传 {up} 条变更，下载 {down} 行，新冲突 {conflicts} 个；"
        f"总部时间 {got['server_time']}。")
    return 0
