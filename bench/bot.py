"""Chat bot latency through the full encrypted path (WeCom safe mode, SDK-encrypted requests).

Prints ``name: value unit`` lines: p50/p95 server time of a text stock query and of each step of
an entry-with-confirmation dialog (入库 … → 确认). Target p95 ≤ 300 ms; WeChat allows 5 s.

    .venv/bin/python -m bench.bot [-n 100] [--db sqlite|postgres]
"""

from __future__ import annotations

import argparse
import base64
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import xmltodict
from wechatpy.enterprise.crypto import WeChatCrypto

from bench.common import (
    drop_postgres_database,
    figure,
    fresh_migrated_postgres,
    fresh_migrated_sqlite,
    note,
    percentile,
)
from models.actor import Actor
from models.db import make_engine, make_session_factory
from models.demo import seed_demo
from models.operations.identity import BindIdentity, IssueBindingCode, bind_with_code, issue_binding_code
from models.org import IdentityProvider
from models.uow import run

AES_KEY = base64.b64encode(b"liuzhuan-bench-aes-key-32-bytes!").decode().rstrip("=")


class ServerTimer:
    """WSGI middleware: time spent inside the app per request (server time, no client work)."""

    def __init__(self, app: Any) -> None:
        self.app, self.last = app, 0.0

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        started = time.perf_counter()
        body = b"".join(self.app(environ, start_response))
        self.last = (time.perf_counter() - started) * 1000
        return [body]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=100)
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-bot-"))
    url = fresh_migrated_postgres("liuzhuan_bench_bot") if args.db == "postgres" else \
        fresh_migrated_sqlite(tmp, "bot.db")
    try:
        _bench(url, tmp, args.n, args.db)
    finally:
        if args.db == "postgres":
            make_engine(url).dispose()
            drop_postgres_database("liuzhuan_bench_bot")


def _bench(url: str, tmp: Path, n: int, db: str) -> None:
    from app.factory import create_app

    factory = make_session_factory(make_engine(url))
    demo = run(factory, seed_demo, "bench-bot")
    root = Actor.system_actor(demo.org_id)
    code = run(factory, issue_binding_code, root, IssueBindingCode(demo.members["小周"])).code
    bind_with_code(factory, BindIdentity(IdentityProvider.WECOM_USERID, "zhou-bench", code))
    app = create_app({"DATABASE_URL": url, "MEDIA_ROOT": str(tmp / "media"), "WECOM_TOKEN": "t",
                      "WECOM_AES_KEY": AES_KEY, "WECOM_CORP_ID": "ww-bench", "WECOM_SECRET": "s"})
    timer = ServerTimer(app.wsgi_app)
    app.wsgi_app = timer  # type: ignore[method-assign]
    client = app.test_client()
    crypto = WeChatCrypto("t", AES_KEY, "ww-bench")

    def send(text: str) -> tuple[float, str]:
        ts, nonce = str(int(time.time())), uuid.uuid4().hex[:10]
        xml = xmltodict.unparse({"xml": {"ToUserName": "ww-bench", "FromUserName": "zhou-bench",
                                         "CreateTime": ts, "MsgType": "text", "Content": text,
                                         "MsgId": uuid.uuid4().int % 10**18, "AgentID": 1}}, full_document=False)
        packed = xmltodict.parse(crypto.encrypt_message(xml, nonce, ts))["xml"]
        body = xmltodict.unparse({"xml": {"ToUserName": "ww-bench", "Encrypt": packed["Encrypt"]}},
                                 full_document=False)
        resp = client.post("/bot/wecom", query_string={"msg_signature": packed["MsgSignature"], "timestamp": ts,
                                                       "nonce": nonce}, data=body, content_type="text/xml")
        out = xmltodict.parse(resp.get_data(as_text=True))["xml"]
        plain = crypto.decrypt_message(resp.get_data(as_text=True), out["MsgSignature"], out["TimeStamp"],
                                       out["Nonce"])
        return timer.last, xmltodict.parse(plain)["xml"]["Content"]

    send("帮助")  # warm up
    note(f"{db}: {n} stock queries")
    query = []
    for _ in range(n):
        ms, reply = send("茶青库存")
        assert "库存" in reply, reply
        query.append(ms)
    note(f"{db}: {n} entry dialogs (入库 → 确认)")
    entry, confirm, dialog = [], [], []
    for _ in range(n):
        ms1, reply = send("入库 茶青 一级 23.5公斤 王阿姨")
        assert "请确认入库" in reply, reply
        ms2, reply = send("确认")
        assert reply.startswith("已入库"), reply
        entry.append(ms1)
        confirm.append(ms2)
        dialog.append(ms1 + ms2)
    for name, values in (("stock_query", query), ("entry_echo", entry), ("entry_confirm", confirm),
                         ("entry_dialog_total", dialog)):
        figure(f"bot_{db}_{name}_p50", percentile(values, 50), "ms")
        figure(f"bot_{db}_{name}_p95", percentile(values, 95), "ms")


if __name__ == "__main__":
    main()
