"""GET /try: a small mobile web page that walks the quick-entry flow through the same API."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, abort, current_app, send_from_directory

STATIC = Path(__file__).resolve().parent / "static"

bp = Blueprint("trypage", __name__)


@bp.get("/try")
def try_page() -> Any:
    """Serve the try-it page (static HTML + JS; it talks to /api/v1 like the mini-program).

    Development only, like the overview page: it signs in through the dev phone login.
    """
    if current_app.extensions["liuzhuan"]["settings"].production:
        abort(404)
    response = send_from_directory(STATIC, "try.html", max_age=0)
    response.headers["Cache-Control"] = "no-store"
    return response
