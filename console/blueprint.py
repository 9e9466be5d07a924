"""The console's one blueprint; every page module adds its routes to it."""

from __future__ import annotations

from flask import Blueprint

#: Vendored libraries never change under a URL (their version is in it): browsers keep them a year.
VENDOR_MAX_AGE_S = 365 * 24 * 3600
#: Our own CSS and JS: an hour (the URL carries a content hash, see console.assets).
OWN_MAX_AGE_S = 3600


class ConsoleBlueprint(Blueprint):
    def get_send_file_max_age(self, filename: str | None) -> int | None:
        return VENDOR_MAX_AGE_S if filename and filename.startswith("vendor/") else OWN_MAX_AGE_S


bp = ConsoleBlueprint("console", __name__, url_prefix="/console", template_folder="templates",
                      static_folder="static", static_url_path="/static")
