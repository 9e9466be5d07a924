"""The web application: factory, settings and command-line tasks."""
