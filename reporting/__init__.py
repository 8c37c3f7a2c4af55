"""Dated, versioned report documents (seed 001: naming, version control, change log, archive)."""
