"""Exports and print: reports as .xlsx and .csv, documents as PDF.

A library, like media/ and forecast/: it takes the queries' result dataclasses (or plain rows) and
returns bytes. No Flask, no database session; of ours it imports only ``models.errors`` (a bad
column map is a ``ValidationError``). The channels (miniprogram_api/exports.py) run the queries.
"""
