"""Demand planning: imported history, promotions, covariates, forecasts, overrides, replenishment."""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import JSON, Boolean, Date, Enum, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from models.base import Base, BigId, CreatedMixin, IdMixin, OrgMixin
from models.types import Qty, ScaledDecimal, UTCDateTime


class DemandKind(enum.StrEnum):
    SALE = "sale"
    RETURN = "return"
    GIVEAWAY = "giveaway"


class Granularity(enum.StrEnum):
    DAY = "day"
    WEEK = "week"


class DemandImport(IdMixin, OrgMixin, CreatedMixin, Base):
    """One accepted upload of demand history; rejected or dry-run uploads are never stored."""

    __tablename__ = "demand_imports"

    filename: Mapped[str] = mapped_column(String(200), default="")
    #: sha256 of the uploaded bytes (the same file twice is reported).
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    granularity: Mapped[Granularity] = mapped_column(Enum(Granularity, native_enum=False, length=8))
    rows_total: Mapped[int] = mapped_column(Integer, default=0)
    rows_imported: Mapped[int] = mapped_column(Integer, default=0)
    #: The validation report as shown to the uploader (warnings such as missing weeks).
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))


class DemandRow(IdMixin, OrgMixin, Base):
    """Demand from another system, per item × site × day (or week, dated its Monday)."""

    __tablename__ = "demand_rows"
    __table_args__ = (Index("ix_demand_rows_org_item_site", "org_id", "item_id", "site_id"),)

    import_id: Mapped[int] = mapped_column(BigId, ForeignKey("demand_imports.id"), index=True)
    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("items.id"))
    site_id: Mapped[int] = mapped_column(BigId, ForeignKey("sites.id"))
    #: The day, or the Monday (Asia/Shanghai business week) for weekly rows.
    day: Mapped[date] = mapped_column(Date)
    granularity: Mapped[Granularity] = mapped_column(Enum(Granularity, native_enum=False, length=8))
    #: In the item's base unit; always ≥ 0 (a return is its own kind, not a negative sale).
    quantity: Mapped[Decimal] = mapped_column(Qty())
    kind: Mapped[DemandKind] = mapped_column(Enum(DemandKind, native_enum=False, length=16))


class Promotion(IdMixin, OrgMixin, CreatedMixin, Base):
    __tablename__ = "promotions"

    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("items.id"), index=True)
    #: None: every site.
    site_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("sites.id"))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date] = mapped_column(Date)
    #: Expected uplift as a fraction of normal demand (0.3 = +30%).
    uplift: Mapped[Decimal] = mapped_column(ScaledDecimal(10, 4), default=Decimal(0))
    note: Mapped[str] = mapped_column(String(256), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class CovariateValue(IdMixin, OrgMixin, Base):
    """One value of a named external series (temperature, price index …) on one day."""

    __tablename__ = "covariate_values"
    __table_args__ = (UniqueConstraint("org_id", "name", "day"),)

    name: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)
    value: Mapped[Decimal] = mapped_column(ScaledDecimal(20, 6))


class RunStatus(enum.StrEnum):
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"


class RunFrequency(enum.StrEnum):
    WEEK = "week"
    DAY = "day"


class ForecastRun(IdMixin, OrgMixin, CreatedMixin, Base):
    __tablename__ = "forecast_runs"

    status: Mapped[RunStatus] = mapped_column(Enum(RunStatus, native_enum=False, length=16))
    horizon: Mapped[int] = mapped_column(Integer)
    method: Mapped[str] = mapped_column(String(32))
    #: Everything else the run was asked for (season length, levels, holidays, folds, filters).
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    #: Monday of the first forecast week (a day run: of its first complete week).
    first_week: Mapped[date] = mapped_column(Date)
    #: "week": weekly lines only; "day": day lines, and weekly lines for the complete weeks (their sums).
    frequency: Mapped[RunFrequency] = mapped_column(Enum(RunFrequency, native_enum=False, length=8),
                                                    default=RunFrequency.WEEK, server_default=RunFrequency.WEEK.name)
    series_count: Mapped[int] = mapped_column(Integer, default=0)
    created_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    error: Mapped[str] = mapped_column(String(512), default="")


class ForecastLine(IdMixin, OrgMixin, Base):
    """One item × site × week of a run: the model's numbers and, after overrides, the planned one."""

    __tablename__ = "forecast_lines"
    __table_args__ = (UniqueConstraint("run_id", "item_id", "site_id", "week"),)

    run_id: Mapped[int] = mapped_column(BigId, ForeignKey("forecast_runs.id"), index=True)
    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("items.id"))
    site_id: Mapped[int] = mapped_column(BigId, ForeignKey("sites.id"))
    week: Mapped[date] = mapped_column(Date)
    #: The model's mean (never changed by an override).
    mean: Mapped[Decimal] = mapped_column(Qty())
    lo80: Mapped[Decimal] = mapped_column(Qty())
    hi80: Mapped[Decimal] = mapped_column(Qty())
    lo95: Mapped[Decimal] = mapped_column(Qty())
    hi95: Mapped[Decimal] = mapped_column(Qty())
    #: What the plan uses: the mean, or the overridden value.
    final: Mapped[Decimal] = mapped_column(Qty())
    override_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("forecast_overrides.id"))
    method: Mapped[str] = mapped_column(String(32))
    #: Std. dev. of one-week-ahead backtest errors (drives safety stock).
    error_sd: Mapped[Decimal] = mapped_column(Qty(), default=Decimal(0))
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    accuracy: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    warnings: Mapped[list[str]] = mapped_column(JSON, default=list)


class ForecastDayLine(IdMixin, OrgMixin, Base):
    """One item × site × day of a day run, reconciled with its week (the week's line sums its days)."""

    __tablename__ = "forecast_day_lines"
    __table_args__ = (Index("ix_forecast_day_lines_run_item_site_day", "run_id", "item_id", "site_id", "day"),)

    run_id: Mapped[int] = mapped_column(BigId, ForeignKey("forecast_runs.id"))
    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("items.id"))
    site_id: Mapped[int] = mapped_column(BigId, ForeignKey("sites.id"))
    day: Mapped[date] = mapped_column(Date)
    mean: Mapped[Decimal] = mapped_column(Qty())
    lo80: Mapped[Decimal] = mapped_column(Qty())
    hi80: Mapped[Decimal] = mapped_column(Qty())
    lo95: Mapped[Decimal] = mapped_column(Qty())
    hi95: Mapped[Decimal] = mapped_column(Qty())
    #: The mean scaled by its week's planned ÷ model figure (overrides are set on weeks).
    final: Mapped[Decimal] = mapped_column(Qty())
    method: Mapped[str] = mapped_column(String(32))
    explanation: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ForecastOverride(IdMixin, OrgMixin, CreatedMixin, Base):
    """A planner's judgement on top of the model: a set value or a scale for some weeks."""

    __tablename__ = "forecast_overrides"

    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("items.id"), index=True)
    site_id: Mapped[int] = mapped_column(BigId, ForeignKey("sites.id"))
    from_week: Mapped[date] = mapped_column(Date)
    weeks: Mapped[int] = mapped_column(Integer)
    #: Exactly one of set_value (per week) and scale (−0.15 = −15%) is given.
    set_value: Mapped[Decimal | None] = mapped_column(Qty())
    scale: Mapped[Decimal | None] = mapped_column(ScaledDecimal(10, 4))
    reason: Mapped[str] = mapped_column(String(256))
    created_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))
    #: The run it was first applied to; later runs re-apply active overrides to their lines.
    run_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("forecast_runs.id"))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Override vs model against actuals, once its weeks have passed (see score_overrides).
    score: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    scored_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class SafetyStock(IdMixin, OrgMixin, Base):
    """The current safety stock and reorder point of an item at a site."""

    __tablename__ = "safety_stocks"
    __table_args__ = (UniqueConstraint("org_id", "item_id", "site_id"),)

    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("items.id"))
    site_id: Mapped[int] = mapped_column(BigId, ForeignKey("sites.id"))
    value: Mapped[Decimal] = mapped_column(Qty())
    reorder_point: Mapped[Decimal] = mapped_column(Qty())
    service_level: Mapped[Decimal] = mapped_column(ScaledDecimal(6, 4))
    lead_time_weeks: Mapped[Decimal] = mapped_column(ScaledDecimal(10, 4))
    computed_at: Mapped[datetime] = mapped_column(UTCDateTime())
    run_id: Mapped[int] = mapped_column(BigId, ForeignKey("forecast_runs.id"))


class SuggestionKind(enum.StrEnum):
    PURCHASE = "purchase"
    TRANSFER = "transfer"
    CLEARANCE = "clearance"


class SuggestionStatus(enum.StrEnum):
    PROPOSED = "proposed"
    ACCEPTED = "accepted"
    DISMISSED = "dismissed"
    #: Replaced by a later recompute before anyone decided.
    SUPERSEDED = "superseded"


class ReplenishmentSuggestion(IdMixin, OrgMixin, CreatedMixin, Base):
    __tablename__ = "replenishment_suggestions"
    __table_args__ = (Index("ix_replenishment_suggestions_org_status", "org_id", "status"),)

    kind: Mapped[SuggestionKind] = mapped_column(Enum(SuggestionKind, native_enum=False, length=16))
    item_id: Mapped[int] = mapped_column(BigId, ForeignKey("items.id"))
    #: Where the goods are needed (clearance: where they sit).
    site_id: Mapped[int] = mapped_column(BigId, ForeignKey("sites.id"))
    #: Transfers: the site with surplus.
    from_site_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("sites.id"))
    #: Purchases: the item's usual supplier.
    party_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("parties.id"))
    quantity: Mapped[Decimal] = mapped_column(Qty())
    unit_price: Mapped[Decimal] = mapped_column(ScaledDecimal(20, 6), default=Decimal(0))
    reason: Mapped[str] = mapped_column(String(256))
    status: Mapped[SuggestionStatus] = mapped_column(Enum(SuggestionStatus, native_enum=False, length=16))
    run_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("forecast_runs.id"))
    #: The purchase order or transfer created on acceptance.
    document_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("documents.id"))
    decided_by: Mapped[int | None] = mapped_column(BigId, ForeignKey("members.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    decision_note: Mapped[str] = mapped_column(String(256), default="")
