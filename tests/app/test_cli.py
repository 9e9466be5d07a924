"""`python -m app.cli setup`: migrate and load the demo once, whatever the backend; never in production."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import func, select

from app.cli import main, setup
from app.settings import Settings
from models.db import make_engine, make_session_factory
from models.documents import Document
from models.invariants import check_all
from models.org import Org


def _fresh_url(tmp_path, name: str) -> str:
    if os.environ.get("TEST_DB") == "postgres":
        from tests.conftest import fresh_postgres_database

        return fresh_postgres_database(f"liuzhuan_{name}_{os.getpid()}")
    return f"sqlite:///{tmp_path / f'{name}.db'}"


def _counts(url: str) -> tuple[list[str], int]:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            return (list(session.scalars(select(Org.code))),
                    session.scalar(select(func.count()).select_from(Document)) or 0)
    finally:
        engine.dispose()


def test_setup_is_repeatable_and_leaves_consistent_books(tmp_path):
    url = _fresh_url(tmp_path, "cli")
    settings = Settings.from_env({"DATABASE_URL": url, "LIUZHUAN_VAR_DIR": str(tmp_path)})
    setup(settings)
    setup(settings)  # second run must not duplicate anything
    engine = make_engine(url)
    with make_session_factory(engine)() as session:
        orgs = list(session.scalars(select(Org)))
        assert [o.code for o in orgs] == ["demo-tea"]
        # two farmer deliveries, and opening stock of 龙井 at 总仓 and 门店 for the bot's examples
        assert session.scalar(select(func.count()).select_from(Document)) == 4
        assert check_all(session, orgs[0].id).ok
    engine.dispose()


def test_production_setup_migrates_without_the_demo(tmp_path, capsys):
    url = _fresh_url(tmp_path, "cli_prod")
    settings = Settings.from_env({"DATABASE_URL": url, "LIUZHUAN_VAR_DIR": str(tmp_path),
                                  "LIUZHUAN_ENV": "production", "SECRET_KEY": "k" * 48,
                                  "PUBLIC_BASE_URL": "https://lz.example.cn"})
    setup(settings)
    assert "未载入演示合作社（生产环境）" in capsys.readouterr().out
    assert _counts(url) == ([], 0)  # schema only: no demo members who could sign in with dev phones


def test_setup_no_demo_flag_migrates_only(tmp_path, monkeypatch):
    url = _fresh_url(tmp_path, "cli_nodemo")
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("LIUZHUAN_VAR_DIR", str(tmp_path))
    monkeypatch.delenv("LIUZHUAN_ENV", raising=False)
    main(["setup", "--no-demo"])
    assert _counts(url) == ([], 0)


def test_a_wrong_setting_stops_setup_with_one_chinese_line(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LIUZHUAN_VAR_DIR", str(tmp_path))
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'never.db'}")
    monkeypatch.setenv("LIUZHUAN_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "k" * 48)
    monkeypatch.delenv("PUBLIC_BASE_URL", raising=False)
    with pytest.raises(SystemExit) as stopped:
        main(["setup"])
    assert stopped.value.code == 2
    assert capsys.readouterr().err.strip() == "设置有误：必须设置 PUBLIC_BASE_URL（如 https://liuzhuan.example.cn）"
    assert not (tmp_path / "never.db").exists()  # nothing created before the settings were good
