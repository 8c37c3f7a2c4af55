"""Shared fixtures: isolated data roots, the tiny hand-written landing tree, and a helper that runs
the real daily job in-process over a day range."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import pytest

from tests.fixtures.tiny_landing import DAY1, DAY2, write_tiny_landing

SIYU_ENV_VARS = [k for k in os.environ if k.startswith("SIYU_")]


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch):
    """No test reads the developer's data directory."""
    for key in list(os.environ):
        if key.startswith("SIYU_") or key == "DAGSTER_HOME":
            monkeypatch.delenv(key, raising=False)


def make_settings(data_dir: Path, **overrides):
    from orchestration.lib.settings import Settings

    env = {"SIYU_DATA_DIR": str(data_dir), "SIYU_START_DATE": "2026-05-01"}
    env.update({k: str(v) for k, v in overrides.items()})
    return Settings.from_env(env)


def run_daily(settings, start: dt.date, end: dt.date, instance=None, marts_only: bool = False):
    """Run the daily job in-process over [start, end] as one run (single-run backfill).

    `marts_only` stops before the models (ingestion and dbt marts): for data too small to train on.
    """
    import dagster as dg

    from orchestration.definitions import build_definitions
    from orchestration.defs.automation import split_at_models
    from orchestration.defs.models import build_scoring_assets
    from orchestration.lib.partitions import PARTITION_RANGE_END_TAG, PARTITION_RANGE_START_TAG

    defs = build_definitions(settings)
    job = defs.resolve_job_def("daily")
    tags = {PARTITION_RANGE_START_TAG: start.isoformat(), PARTITION_RANGE_END_TAG: end.isoformat()}
    selection = split_at_models(defs, build_scoring_assets())[0] if marts_only else None
    return job.execute_in_process(
        instance=instance or dg.DagsterInstance.ephemeral(),
        tags=tags,
        raise_on_error=False,
        asset_selection=selection,
    )


def step_errors(result) -> list[str]:
    return [
        e.step_failure_data.error.message if e.step_failure_data.error else str(e)
        for e in result.all_events
        if e.is_step_failure
    ]


@pytest.fixture
def tiny_data(tmp_path) -> Path:
    write_tiny_landing(tmp_path / "landing")
    return tmp_path


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory):
    """The tiny landing tree run once through the real daily job (both days, one run)."""
    data = tmp_path_factory.mktemp("tiny_run")
    write_tiny_landing(data / "landing")
    settings = make_settings(data)
    result = run_daily(settings, DAY1, DAY2, marts_only=True)
    assert result.success, step_errors(result)
    return settings
