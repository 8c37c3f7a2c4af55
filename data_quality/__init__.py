"""Data-quality suites that gate publication of the `marts` tables (see README.md)."""

from data_quality.runner import (
    REFERENCE_QUERIES,
    SuiteDefinition,
    SuiteResult,
    columns_needed,
    list_suites,
    load_suite,
    references_needed,
    validate_duckdb,
    validate_frame,
)

__all__ = [
    "REFERENCE_QUERIES",
    "SuiteDefinition",
    "SuiteResult",
    "columns_needed",
    "list_suites",
    "load_suite",
    "references_needed",
    "validate_duckdb",
    "validate_frame",
]
