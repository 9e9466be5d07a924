"""Demand planning over HTTP: history, imports, promotions, covariates, forecasts, overrides, replenishment, sandbox.

A channel: every route goes through miniprogram_api.skeleton (authenticate → authorize with
Permission.PLAN → parse a typed body → call one operation or query → render). Errors use the shared
shape {"error": {"code", "message", "details"}}. One module per resource.
"""

from __future__ import annotations

from flask_openapi3 import OpenAPI


def register(app: OpenAPI) -> None:
    """Register the planning blueprints (and their operations in the OpenAPI spec)."""
    from planning_api import bias, board, demand, forecasts, promotions, replenishment

    for module in (demand, promotions, forecasts, replenishment, board, bias):
        app.register_api(module.api)
