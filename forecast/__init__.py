"""Demand forecasting and replenishment maths (issue 6): pure computation, no database, no Flask.

``models/`` turns the ledger into :class:`Series`, calls :func:`forecast_series`, and stores the
result; ``workflows/`` schedules it. Floats are fine here: forecasts are estimates, never money.
The contract below is shared by the engine (forecast/engine.py) and its callers.
"""

from forecast.types import Explanation, Forecast, Plan, Series

__all__ = ["Explanation", "Forecast", "Plan", "Series"]
