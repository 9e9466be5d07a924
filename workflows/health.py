"""Event health: commit → handled latency, retry and failure rates, dead letters, consistency checks."""

from __future__ import annotations

from models.queries.event_health import EventHealth, event_health, org_event_health

__all__ = ["EventHealth", "event_health", "org_event_health", "prometheus_text"]


def prometheus_text(health: EventHealth) -> str:
    """Render event health in the Prometheus text exposition format."""
    lines: list[str] = []

    def metric(name: str, kind: str, help_text: str, value: float | None, labels: str = "") -> None:
        if f"# TYPE {name} " not in "\n".join(lines):
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
        lines.append(f"{name}{labels} {'NaN' if value is None else value}")

    metric("liuzhuan_event_latency_ms", "gauge", "Commit to handled latency (ms) over the window.",
           health.latency_avg_ms, '{stat="avg"}')
    metric("liuzhuan_event_latency_ms", "gauge", "", health.latency_p95_ms, '{stat="p95"}')
    metric("liuzhuan_handler_runs", "gauge", "Handler runs in the window.", health.handled)
    metric("liuzhuan_handler_retry_rate", "gauge", "Share of handler runs that needed a retry.", health.retry_rate)
    metric("liuzhuan_handler_failure_rate", "gauge", "Share of handler runs failing or dead.", health.failure_rate)
    metric("liuzhuan_dead_letters", "gauge", "Dead handler runs awaiting replay.", health.dead_letters)
    metric("liuzhuan_outbox_pending", "gauge", "Outbox events not yet relayed.", health.pending_events)
    metric("liuzhuan_handler_retries_pending", "gauge", "Handler runs waiting for a retry.", health.pending_retries)
    for name, problems in sorted(health.checks.items()):
        metric("liuzhuan_consistency_problems", "gauge", "Problems found by a consistency check.", problems,
               f'{{check="{name}"}}')
    metric("liuzhuan_consistency_pass_rate", "gauge", "Share of consistency checks passing.", health.check_pass_rate)
    for n in health.nodes:
        if not n["active"]:
            continue
        labels = f'{{org="{n["org_id"]}",node="{n["code"]}"}}'  # codes are [A-Z0-9]: nothing to escape
        metric("liuzhuan_node_lag_seconds", "gauge", "Seconds since the edge node last reached headquarters.",
               n["lag_seconds"], labels)
        metric("liuzhuan_node_lag_rows", "gauge", "Changes the edge node still had to send at its last exchange.",
               n["lag_rows"], labels)
        metric("liuzhuan_node_conflicts_open", "gauge", "Open sync conflicts of the edge node.",
               n["conflicts_open"], labels)
    return "\n".join(lines) + "\n"
