"""协同 · 设备: scales and sensors with their last reading and when; the quiet ones flagged."""

from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue

from console.blueprint import bp
from console.collaboration.common import page_after
from console.web import actor, member_page, read_db, render
from models.actor import Permission
from models.queries.device_status import PAGE, device_status

KIND_LABELS = {"scale": "电子秤", "sensor": "传感器"}
METRIC_UNITS = {"temperature": ("温度", "℃"), "humidity": ("湿度", "%"), "weight": ("重量", "")}


@bp.get("/collaboration/devices")
@member_page(Permission.RULES)
def collaboration_devices() -> ResponseReturnValue:
    lines = device_status(read_db(), actor(), after_id=page_after(request.args.get("after")), limit=PAGE + 1)
    more = len(lines) > PAGE
    lines = lines[:PAGE]
    return render("console/collaboration/devices.html", lines=lines, kinds=KIND_LABELS, metrics=METRIC_UNITS,
                  next_after=lines[-1].id if more else None)
