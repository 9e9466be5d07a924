"""The books: accounting periods, month-end close (结账) and reopen (反结账), and the three reports —
科目余额表, 资产负债表, 利润表 (小企业会计准则). Reads need 查看财务; close needs 结账 (finance and
above); reopen needs 反结账 (director and admin only)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from flask_openapi3 import APIBlueprint, Tag
from pydantic import BaseModel, Field

from miniprogram_api.apiutil import dump, out_model
from miniprogram_api.errors import ErrorBody
from miniprogram_api.skeleton import Ctx, endpoint
from models.actor import Permission
from models.base import utcnow
from models.operations.closing import ClosePeriod, PeriodState, ReopenPeriod, close_period, reopen_period
from models.queries.statements import (
    BalanceSheet,
    IncomeStatement,
    TrialBalance,
    balance_sheet,
    income_statement,
    periods,
    trial_balance,
)
from models.timeutil import period_of

api = APIBlueprint("books", __name__, url_prefix="/api/v1/books", abp_tags=[Tag(name="总账与报表")],
                   abp_security=[{"bearer": []}], abp_responses={"401": ErrorBody})

Period = Annotated[str, Field(pattern=r"^20\d{2}(0[1-9]|1[0-2])$", description="会计期间 YYYYMM，如 202611")]


class PeriodPath(BaseModel):
    period: Period


class PeriodQuery(BaseModel):
    period: Period | None = Field(None, description="会计期间 YYYYMM；默认本月")

    def value(self) -> str:
        return self.period or period_of(utcnow())


class PeriodOut(BaseModel):
    period: str
    label: str
    status: str = Field(description="open（未结账）或 closed（已结账）")
    vouchers: int
    closed_at: datetime | None
    reopened_at: datetime | None
    reason: str


class PeriodsOut(BaseModel):
    periods: list[PeriodOut]


@endpoint(api.get, "/periods", permission=Permission.VIEW_FINANCE, response=PeriodsOut)
def list_periods(ctx: Ctx) -> dict:
    """The periods with vouchers or a close on record, newest first, open or closed."""
    return {"periods": [dump(p) for p in periods(ctx.session, ctx.actor.org_id)]}


@endpoint(api.post, "/periods/<period>/close", permission=Permission.CLOSE_PERIOD, response=out_model(PeriodState))
def close(ctx: Ctx, path: PeriodPath) -> dict:
    """结账: checks (no draft, every voucher balanced, stock ledger = balances, earlier periods closed),
    then income and expenses to 本年利润, vouchers renumbered gap-free, the period locked. Refused with
    PERIOD_CHECKS_FAILED and the list of what fails (details.problems)."""
    return dump(ctx.call(close_period, ClosePeriod(path.period)))


class ReopenIn(BaseModel):
    reason: str = Field(min_length=1, max_length=256, description="反结账原因（必填，记入审计）")


@endpoint(api.post, "/periods/<period>/reopen", permission=Permission.REOPEN_PERIOD,
          response=out_model(PeriodState))
def reopen(ctx: Ctx, path: PeriodPath, body: ReopenIn) -> dict:
    """反结账: open the latest closed period again, with a reason (audited)."""
    return dump(ctx.call(reopen_period, ReopenPeriod(path.period, body.reason)))


@endpoint(api.get, "/trial-balance", permission=Permission.VIEW_FINANCE, response=out_model(TrialBalance))
def trial_balance_report(ctx: Ctx, query: PeriodQuery) -> dict:
    """科目余额表: per account the opening balance, the period's debits and credits, the closing balance;
    ``balanced`` says the debits equal the credits in each column."""
    return dump(trial_balance(ctx.session, ctx.actor.org_id, query.value()))


@endpoint(api.get, "/balance-sheet", permission=Permission.VIEW_FINANCE, response=out_model(BalanceSheet))
def balance_sheet_report(ctx: Ctx, query: PeriodQuery) -> dict:
    """资产负债表 (会小企01表) as of the period's end, with 年初余额; ``balanced``: 资产总计 = 负债和所有者权益总计."""
    return dump(balance_sheet(ctx.session, ctx.actor.org_id, query.value()))


@endpoint(api.get, "/income-statement", permission=Permission.VIEW_FINANCE, response=out_model(IncomeStatement))
def income_statement_report(ctx: Ctx, query: PeriodQuery) -> dict:
    """利润表 (会小企02表): 本期金额 (``amount``) and 本年累计金额 (``other``, year to date)."""
    return dump(income_statement(ctx.session, ctx.actor.org_id, query.value()))

