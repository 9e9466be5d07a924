"""Register the clerk/manager API, offline sync and the try-it page (one call from ``register``)."""

from __future__ import annotations

from flask_openapi3 import OpenAPI


def register(app: OpenAPI) -> None:
    """Register the blueprints of stock, shipments, transfers, approvals, to-dos, my, sync and /try."""
    from miniprogram_api import (
        approvals,
        bindings,
        finance,
        my,
        shipments,
        stock,
        sync,
        todos,
        transfers,
        trypage,
        vat,
    )
    from miniprogram_api.apiutil import close_read_db
    from miniprogram_api.books import api as books_api  # issue 12: periods, close, statements
    from miniprogram_api.cash import api as cash_api

    for module in (stock, shipments, transfers, approvals, todos, my, sync, bindings, finance, vat):
        app.register_api(module.api)
    app.register_api(books_api)
    app.register_api(cash_api)
    from miniprogram_api import margin  # issue 12: order margin and the margin preview

    app.register_api(margin.api)
    app.register_blueprint(trypage.bp)
    from miniprogram_api import exports  # Excel/CSV exports and PDFs to print (issue 12, part 9)

    app.register_api(exports.api)
    from miniprogram_api import finance_desk  # issue 13: settlements, vouchers, mapping rules (console 资金)

    app.register_api(finance_desk.api)
    from miniprogram_api import lots  # issue 13: stock value, slow movers, a lot's trace, QC, freeze and lift

    app.register_api(lots.api)
    from miniprogram_api import documents  # issue 13: the document list and detail, orders, reversal

    app.register_api(documents.api)
    app.teardown_appcontext(close_read_db)
