"""Fixtures for the clerk/manager API, sync and try-page tests (import the ``fx_*`` names)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from app.factory import create_app
from models.demo import DemoOrg
from models.operations import Receipt, ReceiveGoods, receive_goods
from models.uow import run


@pytest.fixture(name="app")
def fx_app(database_url: str, tmp_path: Path) -> Flask:
    app = create_app({"DATABASE_URL": database_url, "MEDIA_ROOT": str(tmp_path / "media"), "VOSK_MODEL_PATH": "",
                      "WECHAT_MINIPROGRAM_APP_ID": "", "LIUZHUAN_VAR_DIR": str(tmp_path)})
    app.config["TESTING"] = True
    return app


@pytest.fixture(name="client")
def fx_client(app: Flask) -> FlaskClient:
    return app.test_client()


def bearer(app: Flask, demo: DemoOrg, name: str) -> dict[str, str]:
    """Authorization header for one of the demo's people."""
    from miniprogram_api.auth import issue_token

    with app.app_context():
        return {"Authorization": f"Bearer {issue_token(demo.members[name], demo.org_id)}"}


@pytest.fixture(name="as_")
def fx_as(app: Flask, demo: DemoOrg) -> Any:
    """``as_("小周")`` → headers for that demo member."""
    return lambda name: bearer(app, demo, name)


def receive(session_factory: Any, demo: DemoOrg, actors: dict, qty: str = "20", grade: str = "一级",
            site: str = "SX", farmer: str = "王阿姨") -> Receipt:
    """Post a farmer delivery through the operation (kg of 茶青)."""
    return run(session_factory, receive_goods, actors["赵经理"], ReceiveGoods(
        site_id=demo.sites[site], item_id=demo.items["茶青"], quantity=Decimal(qty),
        party_id=demo.parties[farmer], grade_id=demo.grades[grade]))
