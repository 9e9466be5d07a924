"""Forecast runs store lines with explanations; overrides are audited, applied, re-applied and scored."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from sqlalchemy import select

from forecast.types import Explanation, Forecast
from models import forecasting
from models.errors import PermissionDenied, ValidationError
from models.infra import AuditEntry, OutboxEvent
from models.operations.forecast_overrides import (
    CancelOverride,
    OverrideForecast,
    ScoreOverrides,
    cancel_override,
    override_forecast,
    score_overrides,
)
from models.operations.planning import (
    CancelPromotion,
    RunForecast,
    SetPromotion,
    UploadCovariate,
    cancel_promotion,
    run_forecast,
    set_promotion,
    upload_covariate,
)
from models.planning import ForecastLine, ForecastRun
from models.uow import run
from tests.models.planning_fakes import fake_engine, fake_forecast_series, monday, weekly_history  # noqa: F401

pytestmark = pytest.mark.usefixtures("fake_engine")


def _lines(session_factory, run_id):
    with session_factory() as session:
        return list(session.scalars(select(ForecastLine).where(ForecastLine.run_id == run_id)
                                    .order_by(ForecastLine.week)))


def test_a_run_stores_its_lines_with_explanations_and_emits_completed(session_factory, demo, actors):
    weekly_history(session_factory, demo, actors, "MD", [4, 5, 6, 5, 4, 6], stock_first=60)
    result = run(session_factory, run_forecast, actors["赵经理"], RunForecast(horizon=3))
    assert result.status == "completed" and result.series == 1 and result.lines == 3
    assert result.first_week == monday(0)
    lines = _lines(session_factory, result.run_id)
    assert [ln.week for ln in lines] == [monday(0) + timedelta(days=7 * n) for n in range(3)]
    assert lines[0].mean == Decimal("5.250") == lines[0].final and lines[0].lo80 < lines[0].mean < lines[0].hi95
    assert lines[0].explanation["summary"] and lines[0].accuracy["chosen"] == "seasonal_naive"
    assert lines[0].item_id == demo.items["龙井"] and lines[0].site_id == demo.sites["MD"]
    with session_factory() as session:
        event = session.scalar(select(OutboxEvent).where(OutboxEvent.org_id == demo.org_id,
                                                         OutboxEvent.kind == "forecast.completed"))
    assert event.payload["run_id"] == result.run_id and event.payload["lines"] == 3


def test_a_clerk_may_not_run_forecasts_and_unknown_methods_are_refused(session_factory, demo, actors):
    with pytest.raises(PermissionDenied):
        run(session_factory, run_forecast, actors["小周"], RunForecast())
    with pytest.raises(ValidationError, match="预测方法"):
        run(session_factory, run_forecast, actors["赵经理"], RunForecast(method="crystal_ball"))


def test_promotions_reach_the_engine(session_factory, demo, actors):
    weekly_history(session_factory, demo, actors, "MD", [4, 4, 4, 4], stock_first=40)
    next_week = monday(0) + timedelta(days=7)
    run(session_factory, set_promotion, actors["赵经理"], SetPromotion(
        item_id=demo.items["龙井"], site_id=None, starts_on=next_week, ends_on=next_week + timedelta(days=6),
        uplift=Decimal("0.3"), note="双十二"))
    result = run(session_factory, run_forecast, actors["赵经理"], RunForecast(horizon=3))
    means = [ln.mean for ln in _lines(session_factory, result.run_id)]
    assert means == [Decimal(4), Decimal(6), Decimal(4)]  # the stand-in lifts by half the intensity


def test_override_is_audited_applied_and_reapplied(session_factory, demo, actors):
    weekly_history(session_factory, demo, actors, "MD", [4, 5, 6, 5, 4, 6], stock_first=60)
    first = run(session_factory, run_forecast, actors["赵经理"], RunForecast(horizon=4))
    cmd = OverrideForecast(item_id=demo.items["龙井"], site_id=demo.sites["MD"],
                           from_week=monday(0) + timedelta(days=9), weeks=2, reason="", scale=Decimal("-0.15"))
    with pytest.raises(ValidationError, match="原因"):
        run(session_factory, override_forecast, actors["赵经理"], cmd)
    with pytest.raises(PermissionDenied):
        run(session_factory, override_forecast, actors["小周"], cmd)
    view = run(session_factory, override_forecast, actors["赵经理"],
               OverrideForecast(**{**cmd.__dict__, "reason": "竞品降价"}))
    assert view.from_week == monday(0) + timedelta(days=7) and view.lines_changed == 2 and view.run_id == first.run_id
    finals = [(ln.mean, ln.final, ln.override_id) for ln in _lines(session_factory, first.run_id)]
    assert finals[0] == (Decimal("5.250"), Decimal("5.250"), None)
    assert finals[1] == (Decimal("5.250"), Decimal("4.463"), view.override_id) == (*finals[2][:2], view.override_id)
    assert finals[3][1] == Decimal("5.250")
    with session_factory() as session:
        audit = session.scalar(select(AuditEntry).where(AuditEntry.org_id == demo.org_id,
                                                        AuditEntry.action == "forecast.override"))
    assert audit.reason == "竞品降价" and audit.actor_id == demo.members["赵经理"]
    assert [x["final"] for x in audit.after["lines"]] == ["4.463", "4.463"] and audit.after["scale"] == "-0.1500"
    second = run(session_factory, run_forecast, actors["赵经理"], RunForecast(horizon=4))
    assert [ln.final for ln in _lines(session_factory, second.run_id)][1] == Decimal("4.463")


def test_scores_compare_override_and_model_against_actuals(session_factory, demo, actors):
    weekly_history(session_factory, demo, actors, "MD", [4, 5, 6, 5, 4, 6], stock_first=60)
    past = run(session_factory, run_forecast, actors["赵经理"], RunForecast(horizon=4, as_of=monday(3)))
    with session_factory() as session:
        assert session.get(ForecastRun, past.run_id).first_week == monday(3)
    run(session_factory, override_forecast, actors["赵经理"], OverrideForecast(
        item_id=demo.items["龙井"], site_id=demo.sites["MD"], from_week=monday(3), weeks=2, reason="展会",
        set_value=Decimal(9)))
    (scored,) = run(session_factory, score_overrides, actors["赵经理"], ScoreOverrides())
    score = scored.score
    assert [w["actual"] for w in score["weeks"]] == [5.0, 4.0]
    assert score["verdict"] == "hurt" and score["mae_final"] > score["mae_model"]
    assert score["attribution"][0]["factor"] == "override" and score["summary"].startswith("人工调整增大了误差")
    assert run(session_factory, score_overrides, actors["赵经理"], ScoreOverrides()) == []  # scored once


def test_cancelling_an_override_restores_the_model_and_is_audited(session_factory, demo, actors):
    weekly_history(session_factory, demo, actors, "MD", [4, 5, 6, 5], stock_first=30)
    result = run(session_factory, run_forecast, actors["赵经理"], RunForecast(horizon=2))
    view = run(session_factory, override_forecast, actors["赵经理"], OverrideForecast(
        item_id=demo.items["龙井"], site_id=demo.sites["MD"], from_week=monday(0), weeks=1, reason="团购",
        set_value=Decimal(20)))
    with pytest.raises(ValidationError, match="原因"):
        run(session_factory, cancel_override, actors["赵经理"], CancelOverride(view.override_id, " "))
    run(session_factory, cancel_override, actors["赵经理"], CancelOverride(view.override_id, "团购取消"))
    line = _lines(session_factory, result.run_id)[0]
    assert (line.final, line.override_id) == (line.mean, None)
    with session_factory() as session:
        actions = set(session.scalars(select(AuditEntry.action).where(AuditEntry.org_id == demo.org_id)))
    assert {"forecast.override", "forecast.override_cancel"} <= actions


def test_promotions_are_audited_and_cancelled_ones_are_ignored(session_factory, demo, actors):
    today = monday(0)
    promo = run(session_factory, set_promotion, actors["赵经理"], SetPromotion(
        item_id=demo.items["龙井"], site_id=demo.sites["MD"], starts_on=today, ends_on=today + timedelta(days=3),
        uplift=Decimal("0.25")))
    with pytest.raises(ValidationError, match="结束日期"):
        run(session_factory, set_promotion, actors["赵经理"], SetPromotion(
            item_id=demo.items["龙井"], starts_on=today, ends_on=today - timedelta(days=1), uplift=Decimal(0)))
    with pytest.raises(PermissionDenied):
        run(session_factory, cancel_promotion, actors["小周"], CancelPromotion(promo.promotion_id))
    cancelled = run(session_factory, cancel_promotion, actors["赵经理"], CancelPromotion(promo.promotion_id, "取消"))
    assert not cancelled.active
    with session_factory() as session:
        actions = [a for a, in session.execute(select(AuditEntry.action).where(
            AuditEntry.org_id == demo.org_id, AuditEntry.entity == "promotion").order_by(AuditEntry.id))]
    assert actions == ["promotion.create", "promotion.cancel"]


def test_uplift_applies_when_the_engine_learnt_no_promotion_effect_and_covariates_reach_it(
        monkeypatch, session_factory, demo, actors):
    seen = {}

    def flat(series, horizon, **kw):
        seen.update(kw)
        (fc,) = fake_forecast_series(series, horizon)
        zero = (0.0,) * horizon
        return [Forecast(**{**fc.__dict__, "mean": (4.0,) * horizon,
                            "explanation": Explanation(**{**fc.explanation.__dict__, "promo_effect": zero})})]

    monkeypatch.setattr(forecasting, "forecast_series", flat)
    weekly_history(session_factory, demo, actors, "MD", [4, 4, 4], stock_first=20)
    nxt = monday(0) + timedelta(days=7)
    run(session_factory, set_promotion, actors["赵经理"], SetPromotion(
        item_id=demo.items["龙井"], starts_on=nxt, ends_on=nxt + timedelta(days=6), uplift=Decimal("0.5")))
    run(session_factory, upload_covariate, actors["赵经理"], UploadCovariate(
        "气温", ((monday(1), Decimal("11.5")), (monday(0), Decimal(9)))))
    result = run(session_factory, run_forecast, actors["赵经理"], RunForecast(horizon=2))
    second = _lines(session_factory, result.run_id)[1]
    assert second.mean == Decimal(6) and "PROMO_UPLIFT_APPLIED" in second.warnings
    assert seen["covariates"] == {"气温": {monday(1): 11.5, monday(0): 9.0}}
    assert seen["future_promo"] == {f"{demo.items['龙井']}:{demo.sites['MD']}": [0.0, 1.0]}
