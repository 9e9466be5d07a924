"""The console's routes in the OpenAPI spec (as HTML pages and form posts), so the fuzzer reaches them.

The console's pages are server-rendered forms, not JSON operations, so they are described loosely:
a GET answers HTML, a POST takes a form. Every route under /console is listed (static files excepted),
walked from the URL map after every page module has registered, so a new page cannot be missed.
"""

from __future__ import annotations

import re
from typing import Any

from flask_openapi3 import OpenAPI

_PARAM = re.compile(r"<(?:([^:<>]+):)?([^<>]+)>")
_ANSWERS = ("200", "302", "303", "400", "401", "403", "404", "409", "413", "422")


def _path_and_params(rule: str) -> tuple[str, list[dict[str, Any]]]:
    params: list[dict[str, Any]] = []
    for converter, name in _PARAM.findall(rule):
        schema: dict[str, Any] = {"type": "integer", "minimum": 0} if converter == "int" else {"type": "string"}
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return _PARAM.sub(lambda m: "{" + m.group(2) + "}", rule), params


def document_console_routes(app: OpenAPI) -> None:
    """Add every /console route to the app's spec (tag 管理台)."""
    from flask_openapi3.models import Operation, PathItem

    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/console") or rule.endpoint == "console.static":
            continue
        path, params = _path_and_params(rule.rule)
        for verb in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            body: dict[str, Any] = {}
            if verb == "POST":
                form = {"type": "object", "additionalProperties": {"type": "string"}}
                body = {"requestBody": {"required": False, "content": {
                    "application/x-www-form-urlencoded": {"schema": form}}}}
            operation = Operation.model_validate({
                "summary": (app.view_functions[rule.endpoint].__doc__ or rule.endpoint).strip().splitlines()[0],
                "tags": ["管理台"],
                "operationId": f"{rule.endpoint.replace('.', '_')}_{verb.lower()}",
                "parameters": params,
                "responses": {code: {"description": "页面或跳转", "content": {"*/*": {"schema": {}}}}
                              for code in _ANSWERS},
                **body,
            })
            setattr(app.paths.setdefault(path, PathItem()), verb.lower(), operation)
