"""The MQTT bridge: devices publish to per-org topics; readings go in through operations."""
