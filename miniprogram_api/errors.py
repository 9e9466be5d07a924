"""The one error shape every API answer shares, and the auth errors."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from pydantic import BaseModel, Field

from models.errors import DomainError


class ErrorDetail(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. INSUFFICIENT_STOCK")
    message: str = Field(description="中文说明，可直接展示给用户")
    details: dict[str, Any] = Field(default_factory=dict, description="Field-level details")


class ErrorBody(BaseModel):
    error: ErrorDetail


class Unauthenticated(DomainError):
    code = "UNAUTHENTICATED"
    http_status = 401
    default_message = "请先登录"


class TokenExpired(Unauthenticated):
    code = "TOKEN_EXPIRED"
    default_message = "登录已过期，请重新登录"


def validation_error_response(exc: Any) -> Any:
    """Render pydantic request-validation errors in the shared shape (flask-openapi3 callback)."""
    fields = [
        {"field": ".".join(str(p) for p in err.get("loc", ())), "problem": err.get("msg", "")}
        for err in exc.errors(include_url=False, include_context=False)
    ]
    body = {"error": {"code": "VALIDATION_ERROR", "message": "请求参数有误", "details": {"fields": fields}}}
    response = jsonify(body)
    response.status_code = 422  # a Response, not a tuple: flask-openapi3 passes it to abort()
    return response
