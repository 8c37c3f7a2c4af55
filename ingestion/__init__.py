"""Reading landed extracts into the raw layer: decoding, parsing, row validation, quarantine.

Plain Python (no dagster import): the Dagster ingestion assets call it.
"""
