"""Mini-program and clerk/manager HTTP API (OpenAPI generated from the code)."""

from __future__ import annotations

from flask_openapi3 import OpenAPI


def register(app: OpenAPI) -> None:
    """Register every API blueprint on the app."""
    from miniprogram_api import auth_routes, me

    app.register_api(me.api)
    app.register_api(auth_routes.api)
    from miniprogram_api import auth_code  # the chat-code login, shared with the console

    app.register_api(auth_code.api)
    from miniprogram_api import delivery_note, intake

    app.register_api(intake.api)
    app.register_blueprint(delivery_note.pages)
    app.register_api(delivery_note.api)
    intake.init_app(app)
    # clerk/manager API, offline sync and the /try page (engineer 3B)
    from miniprogram_api import clerk

    clerk.register(app)
    from miniprogram_api import settings_admin  # issue 13: master data, members, org settings, audit log, imports

    app.register_api(settings_admin.api)
