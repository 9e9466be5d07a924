"""Request models and renderings shared by the planning routes (bounded types: see miniprogram_api.skeleton)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from miniprogram_api.skeleton import QueryId

#: The planning permission (planners, managers, purchasers, directors, admins).
PREFIX = "/api/v1/planning"


def json_schema(kind: str, description: str = "OK") -> dict[str, Any]:
    """Return a response declaration for a JSON array or object whose rows the route documents."""
    schema: dict[str, Any] = {"type": "array", "items": {"type": "object"}} if kind == "array" else {"type": "object"}
    return {"description": description, "content": {"application/json": {"schema": schema}}}


ARRAY = json_schema("array")
OBJECT = json_schema("object")


class ReasonIn(BaseModel):
    reason: str = Field("", max_length=500)


class ReasonQuery(BaseModel):
    reason: str = Field("", max_length=500)


class ItemSiteQuery(BaseModel):
    item_id: QueryId | None = None
    site_id: QueryId | None = None
