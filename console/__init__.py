"""The manager console (/console): server-rendered pages for managers and the accountant, at a desk
or on a phone. One more channel: pages parse forms and render; the operations and queries under
models/ decide everything (see docs/architecture.md).
"""

from __future__ import annotations

from datetime import timedelta

from flask_openapi3 import OpenAPI


def register(app: OpenAPI) -> None:
    """Register the console's blueprint (its page modules add their routes on import)."""
    # Each page module adds its routes to the blueprint when imported.
    from console import (  # noqa: F401
        collaboration,
        documents,
        login,
        money,
        planning,
        planning_bias,
        settings,
        signin,
        stock,
        today,
    )
    from console.blueprint import bp
    from console.filters import install as install_filters

    config = app.extensions["liuzhuan"]["settings"]
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=config.production,
        SESSION_COOKIE_NAME="lz_console",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        WTF_CSRF_TIME_LIMIT=12 * 3600,
    )
    install_filters(app)
    app.register_blueprint(bp)
    from console.spec import document_console_routes

    document_console_routes(app)  # after every page module has added its routes
