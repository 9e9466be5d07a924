"""Register the clerk/manager API, offline sync and the try-it page (one call from ``register``)."""

from __future__ import annotations

from flask_openapi3 import OpenAPI


def register(app: OpenAPI) -> None:
    """Register the blueprints of stock, shipments, transfers, approvals, to-dos, my, sync and /try."""
    from miniprogram_api import approvals, bindings, finance, my, shipments, stock, sync, todos, transfers, trypage
    from miniprogram_api.apiutil import close_read_db

    for module in (stock, shipments, transfers, approvals, todos, my, sync, bindings, finance):
        app.register_api(module.api)
    from miniprogram_api import margin  # issue 12: order margin and the margin preview

    app.register_api(margin.api)
    app.register_blueprint(trypage.bp)
    app.teardown_appcontext(close_read_db)
