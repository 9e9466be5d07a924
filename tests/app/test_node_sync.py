"""`python -m app.cli node register` at headquarters and `python -m app.cli sync --once` on a node, against
headquarters served over real HTTP on a free loopback port (issue 14, first slice: the hello only)."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from werkzeug.serving import make_server

from app.cli import main, migrate
from models.db import make_engine, make_session_factory
from models.nodes import Node, NodeState
from models.org import Org
from tests.miniprogram_api.fixtures_3b import fx_app  # noqa: F401  (the "app" fixture: headquarters)


@pytest.fixture
def hq(app) -> Iterator[str]:
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture
def node_db(tmp_path) -> Iterator[str]:
    """The node's own embedded SQLite database."""
    url = f"sqlite:///{tmp_path / 'node.db'}"
    migrate(url)
    return url


def _cli(monkeypatch, capsys, argv: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    for name in ("LIUZHUAN_NODE", "LIUZHUAN_HQ_URL", "LIUZHUAN_NODE_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    out = capsys.readouterr()
    return int(exit_.value.code or 0), out.out, out.err


def _state(url: str, code: str) -> NodeState | None:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            return session.scalar(select(NodeState).where(NodeState.node_code == code))
    finally:
        engine.dispose()


def test_register_then_sync_once_against_a_live_headquarters(monkeypatch, capsys, tmp_path, database_url,
                                                             session_factory, demo, hq, node_db):
    with session_factory() as s:
        org_code = s.get(Org, demo.org_id).code
    hq_env = {"DATABASE_URL": database_url, "LIUZHUAN_VAR_DIR": str(tmp_path), "PUBLIC_BASE_URL": hq}
    status, out, _ = _cli(monkeypatch, capsys, ["node", "register", "SX1", "--sites", "SX,ZC", "--org", org_code,
                                                "--name", "绍兴节点"], hq_env)
    assert status == 0, out
    env = dict(re.findall(r"^(LIUZHUAN_[A-Z_]+)=(.+)$", out, re.M))
    assert env["LIUZHUAN_NODE"] == "SX1" and env["LIUZHUAN_HQ_URL"] == hq and len(env["LIUZHUAN_NODE_KEY"]) == 43
    assert "只显示这一次" in out

    # The same code again: refused, and no key printed.
    status, out, err = _cli(monkeypatch, capsys, ["node", "register", "SX1", "--sites", "SX", "--org", org_code],
                            hq_env)
    assert status == 1 and "NODE_DUPLICATE" in err and "LIUZHUAN_NODE_KEY" not in out
    status, _, err = _cli(monkeypatch, capsys, ["node", "register", "SX2", "--sites", "SX,XX", "--org", org_code],
                          hq_env)
    assert status == 1 and "找不到站点：XX" in err

    node_env = {"DATABASE_URL": node_db, "LIUZHUAN_VAR_DIR": str(tmp_path / "node"), **env}
    status, out, _ = _cli(monkeypatch, capsys, ["sync", "--once"], node_env)
    assert status == 0, out
    assert "同步完成：节点 SX1" in out and "下载" in out
    with session_factory() as s:
        node = s.scalar(select(Node).where(Node.org_id == demo.org_id, Node.code == "SX1"))
        assert node.last_contact_at is not None and node.last_contact_ip == "127.0.0.1"
    state = _state(node_db, "SX1")
    assert state is not None and state.last_synced_at is not None and state.last_error == ""
    synced = state.last_synced_at

    # A wrong key: a Chinese error with the code, exit 1, the last good sync kept, the error noted.
    status, out, _ = _cli(monkeypatch, capsys, ["sync", "--once"], {**node_env, "LIUZHUAN_NODE_KEY": "x" * 43})
    assert status == 1 and "同步失败" in out and "NODE_SIGNATURE_INVALID" in out
    state = _state(node_db, "SX1")
    assert state.last_synced_at == synced and "NODE_SIGNATURE_INVALID" in state.last_error


def test_sync_once_says_so_when_headquarters_is_unreachable_or_unset(monkeypatch, capsys, tmp_path, node_db):
    env = {"DATABASE_URL": node_db, "LIUZHUAN_VAR_DIR": str(tmp_path), "LIUZHUAN_NODE": "SX1",
           "LIUZHUAN_HQ_URL": "http://127.0.0.1:9", "LIUZHUAN_NODE_KEY": "k" * 43}
    status, out, _ = _cli(monkeypatch, capsys, ["sync", "--once"], env)
    assert status == 1 and "连不上总部" in out
    assert _state(node_db, "SX1").last_synced_at is None
    status, out, _ = _cli(monkeypatch, capsys, ["sync", "--once"], {"DATABASE_URL": node_db,
                                                                    "LIUZHUAN_VAR_DIR": str(tmp_path)})
    assert status == 1 and "本机不是站点节点" in out
