"""Mini-program and clerk/manager HTTP API (OpenAPI generated from the code)."""

from __future__ import annotations

from flask_openapi3 import OpenAPI


def register(app: OpenAPI) -> None:
    """Register every API blueprint on the app."""
    from miniprogram_api import me

    app.register_api(me.api)
