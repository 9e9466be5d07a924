"""The bias-attribution board: the query ranks the recorded causes of a closed week's miss, keeps the
overrides' track record, shows nothing of another organisation, and GET /api/v1/planning/bias serves it."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from app.factory import create_app
from miniprogram_api.auth import issue_token
from models.errors import PermissionDenied, ValidationError
from models.queries.forecast_bias import forecast_bias
from tests.console.planning_fixtures import other_org_fixture  # noqa: F401
from tests.planning_api.bias_fixtures import fake_engine, missed_fixture, monday  # noqa: F401

API = "/api/v1/planning"


def _board(session_factory, actor, **kw):
    with session_factory() as session:
        return forecast_bias(session, actor, **kw)


def test_the_miss_is_attributed_to_stockout_cancelled_promotion_and_override(missed, actors, session_factory):
    board = _board(session_factory, actors["赵经理"], week=missed.week)
    assert (board.week, board.week_end) == (missed.week, missed.week + timedelta(days=6))
    assert board.compared == 2  # 门店 and 总仓; 总仓 sold its forecast (3) and is no miss
    assert board.total_actual == Decimal(5) and board.more == 0
    (miss,) = board.misses
    assert (miss.item_id, miss.site_id, miss.run_id) == (missed.item_id, missed.site_id, missed.run_id)
    assert (miss.forecast, miss.model, miss.actual, miss.error) == (Decimal(15), Decimal("9.375"), Decimal(2),
                                                                     Decimal(13))
    assert miss.pct_error == 6.5 and (miss.bias, miss.bias_label) == ("over", "高估")
    assert miss.override_id == missed.override_id and miss.stockout_days == 6
    assert [c.code for c in miss.causes] == ["stockout", "override", "promotion"]
    stockout, override, promo = miss.causes
    # stock-out: 6 of 7 days of the planned 15 → 12.86 of the 13 missed
    assert stockout.explained == Decimal("12.857") and stockout.score == pytest.approx(0.989, abs=1e-3)
    assert "6 天库存为零" in stockout.evidence and len(stockout.refs["days"]) == 6
    # the promotion known at forecast time, cancelled on the Monday: +30 % × 7/7 × 9.375 did not happen
    assert promo.refs == {"promotion_id": missed.promotion_id} and promo.explained == Decimal("2.812")
    assert "周末买二送一" in promo.evidence and "7 天未执行" in promo.evidence
    # the override (15 over the model's 9.375) added 5.625 to the error
    assert override.refs == {"override_id": missed.override_id} and override.explained == Decimal("5.625")
    assert "节前备货" in override.evidence and "7.4 增至 13" in override.evidence
    assert stockout.score > override.score > promo.score > 0

    record = board.overrides
    assert (record.count, record.better, record.worse, record.share_better, record.mean_mae_change) == (
        1, 0, 1, 0.0, 5.625)
    (row,) = record.rows
    assert (row.override_id, row.verdict, row.mae_model, row.mae_final) == (missed.override_id, "hurt", 7.375, 13.0)
    assert row.created_by_name == "赵经理"


def test_a_cause_that_did_not_happen_is_not_named(missed, actors, session_factory):
    """Two weeks back nothing was forecast: nothing compared, no miss; a generous threshold leaves no miss."""
    assert _board(session_factory, actors["赵经理"], week=monday(2)).compared == 0
    assert _board(session_factory, actors["赵经理"], week=missed.week, min_error=Decimal(20)).misses == []


def test_weather_far_from_its_forecast_is_a_cause(missed, actors, session_factory):
    from models.operations.planning import UploadCovariate, upload_covariate
    from models.uow import run

    week = missed.week
    history = tuple((week - timedelta(days=n), Decimal(20 + n % 3)) for n in range(1, 43))
    this_week = tuple((week + timedelta(days=n), Decimal(33)) for n in range(7))
    run(session_factory, upload_covariate, actors["赵经理"], UploadCovariate("气温", history + this_week))
    run(session_factory, upload_covariate, actors["赵经理"], UploadCovariate(
        "气温预报", tuple((d, Decimal(21)) for d, _ in this_week)))
    (miss,) = _board(session_factory, actors["赵经理"], week=week).misses
    weather = next(c for c in miss.causes if c.code == "weather")
    assert weather.refs == {"covariate": "气温", "actual": 33.0, "forecast": 21.0} and weather.score == 0.5
    assert "本周实际平均 33.0，预报 21.0" in weather.evidence
    assert all(c.refs.get("covariate") != "气温预报" for c in miss.causes)


def test_another_org_sees_none_and_weeks_are_checked(missed, other_org, actors, session_factory):
    from models.actor import load_actor

    other, _theirs = other_org
    with session_factory() as session:
        theirs = load_actor(session, other.members["赵经理"])
    board = _board(session_factory, theirs, week=missed.week)
    assert board.misses == [] and board.compared == 0 and board.overrides.rows == []
    with pytest.raises(PermissionDenied):
        _board(session_factory, actors["小周"], week=missed.week)
    with pytest.raises(ValidationError, match="周一"):
        _board(session_factory, actors["赵经理"], week=missed.week + timedelta(days=1))
    with pytest.raises(ValidationError, match="尚未结束"):
        _board(session_factory, actors["赵经理"], week=monday(0))
    assert _board(session_factory, actors["赵经理"]).week == missed.week  # default: the last full week


@pytest.fixture
def app(database_url, tmp_path):
    app = create_app({"DATABASE_URL": database_url, "MEDIA_ROOT": str(tmp_path / "media"), "VOSK_MODEL_PATH": "",
                      "WECHAT_MINIPROGRAM_APP_ID": "", "LIUZHUAN_VAR_DIR": str(tmp_path)})
    app.config["TESTING"] = True
    return app


def _auth(app, org, name):
    with app.app_context():
        return {"Authorization": f"Bearer {issue_token(org.members[name], org.org_id)}"}


def test_the_api_serves_the_board(app, demo, missed, other_org):
    client, h = app.test_client(), _auth(app, demo, "赵经理")
    got = client.get(f"{API}/bias", headers=h, query_string={"week": missed.week.isoformat()})
    assert got.status_code == 200, got.get_json()
    body = got.get_json()
    (miss,) = body["misses"]
    assert (miss["item_id"], miss["forecast"], miss["actual"], miss["error"]) == (missed.item_id, "15", "2", "13")
    assert [c["code"] for c in miss["causes"]] == ["stockout", "override", "promotion"]
    assert body["overrides"]["rows"][0]["verdict"] == "hurt"
    assert client.get(f"{API}/bias", headers=h).get_json()["week"] == missed.week.isoformat()

    bad = client.get(f"{API}/bias", headers=h, query_string={"week": (missed.week + timedelta(days=2)).isoformat()})
    assert bad.status_code == 422 and bad.get_json()["error"]["code"] == "VALIDATION_ERROR"
    assert client.get(f"{API}/bias", headers=_auth(app, demo, "小周")).status_code == 403
    other, _ = other_org
    theirs = client.get(f"{API}/bias", headers=_auth(app, other, "赵经理"),
                        query_string={"week": missed.week.isoformat()}).get_json()
    assert theirs["misses"] == [] and theirs["overrides"]["rows"] == []
    assert "/api/v1/planning/bias" in app.api_doc["paths"]


def test_a_transfer_that_arrived_late_is_a_cause(missed, demo, actors, session_factory):
    """5 罐 from 总仓 dispatched the Sunday before, due after 24 h on the road, received Wednesday: 2 days late."""
    from models.documents import Document
    from models.operations.transfers import (
        DecideTransfer,
        RequestTransfer,
        TransferLineIn,
        TransferRef,
        decide_transfer,
        dispatch_transfer,
        receive_transfer,
        request_transfer,
    )
    from models.org import Site
    from models.uow import run
    from tests.models.planning_fakes import at

    week, boss = missed.week, actors["钱总监"]
    t = run(session_factory, request_transfer, boss, RequestTransfer(
        from_site_id=missed.other_site_id, to_site_id=missed.site_id,
        lines=(TransferLineIn(missed.item_id, Decimal(5)),), reason="补货", business_time=at(week - timedelta(days=2))))
    run(session_factory, decide_transfer, actors["赵经理"], DecideTransfer(t.document_id, True))
    sent = at(week - timedelta(days=1))
    run(session_factory, dispatch_transfer, boss, TransferRef(t.document_id, business_time=sent))
    with session_factory() as session:
        doc = session.get_one(Document, t.document_id)
        session.get_one(Site, doc.transit_site_id).transit_hours = 24
        session.commit()
    run(session_factory, receive_transfer, boss, TransferRef(t.document_id, business_time=at(week + timedelta(days=2))))
    (miss,) = _board(session_factory, actors["赵经理"], week=week).misses
    late = next(c for c in miss.causes if c.code == "transfer_late")
    assert late.refs == {"document_id": t.document_id, "number": t.number}
    assert late.explained == Decimal("4.286")  # 2 of 7 days of the planned 15 (under the 5 carried)
    assert "晚 48 小时" in late.evidence and "本周缺这批货 2.0 天" in late.evidence
