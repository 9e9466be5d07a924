"""The web app: factory, health check, `/` (the console in development, nothing in production) and the
shared error shape."""

from __future__ import annotations

from decimal import Decimal

import pytest

from app.factory import create_app
from app.settings import Settings
from models.errors import InsufficientStock, ValidationError
from models.operations import FreezeStock, ReceiveGoods, freeze_stock, receive_goods
from models.stock import FreezeDirection
from models.uow import run
from tests.console.conftest import sign_in


@pytest.fixture
def client(database_url, tmp_path):
    app = create_app({"DATABASE_URL": database_url, "LIUZHUAN_VAR_DIR": str(tmp_path)})

    @app.get("/boom")
    def boom():
        raise InsufficientStock("库存不足：测试", available="0")

    return app.test_client()


def test_healthz_answers_ok(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_root_sends_a_developer_to_the_console_where_the_demo_ledger_shows(client, session_factory, demo, actors):
    received = run(session_factory, receive_goods, actors["小周"], ReceiveGoods(
        site_id=demo.sites["SX"], item_id=demo.items["茶青"], quantity=Decimal("23.5"), unit="斤",
        party_id=demo.parties["王阿姨"], grade_id=demo.grades["一级"]))
    # a held lot is one of the ledger's facts 首页 shows (the ledger's other pages are the console's sections)
    run(session_factory, freeze_stock, actors["赵经理"], FreezeStock(
        demo.items["茶青"], FreezeDirection.OUTBOUND, "农残复检", site_id=demo.sites["SX"], lot_id=received.lot_id))
    response = client.get("/")
    assert response.status_code == 302 and response.headers["Location"] == "/console/"
    sign_in(client, demo, "赵经理")
    page = client.get("/console/").get_data(as_text=True)
    assert "绍兴收购点" in page and "11.75 公斤" in page and received.lot_code in page and "农残复检" in page


def test_domain_errors_share_one_json_shape(client):
    response = client.get("/boom")
    assert response.status_code == 409
    assert response.get_json() == {"error": {"code": "INSUFFICIENT_STOCK", "message": "库存不足：测试",
                                             "details": {"available": "0"}}}


def test_root_is_a_404_in_production(database_url, tmp_path):
    app = create_app({"DATABASE_URL": database_url, "LIUZHUAN_VAR_DIR": str(tmp_path),
                      "LIUZHUAN_ENV": "production", "SECRET_KEY": "x" * 40,
                      "PUBLIC_BASE_URL": "https://lz.example.cn"})
    assert app.test_client().get("/").status_code == 404


def test_settings_default_to_embedded_sqlite(tmp_path):
    settings = Settings.from_env({"LIUZHUAN_VAR_DIR": str(tmp_path)})
    assert settings.is_sqlite and settings.database_url.endswith("liuzhuan.db") and settings.redis_url is None


@pytest.mark.parametrize("env", [
    {"DATABASE_URL": "mysql://x"},
    {"LIUZHUAN_ENV": "production"},
    {"LIUZHUAN_ENV": "production", "SECRET_KEY": "short"},
])
def test_settings_refuse_what_cannot_work(env, tmp_path):
    with pytest.raises(ValidationError):
        Settings.from_env({"LIUZHUAN_VAR_DIR": str(tmp_path), **env})
