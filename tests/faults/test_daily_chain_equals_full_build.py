"""Hole (issue 15, determinism): the daily chain equals a full re-ingest.

The same landed files, processed once as one run over every day (a full re-ingest) and once as a
range over the first days followed by one run per day (the daily chain), must give the same
marts. The generator lands late rows (CRM orders, mini-program events and orders of a day in a
later day's folder) and identity resolution merges persons when a later row links their
identifiers, so a daily run that recomputes only its own days leaves earlier days stale:
engagement_daily.total_users counted persons that later merged, retention cohorts kept their old
sizes, and a late order never reached the RFM snapshots of the days before it landed.

Both data folders run what `siyu run` runs, in-process (tests/integration/brand_shapes.py), on an
ephemeral Dagster instance each, over the marts: ingestion, dbt, the quality checks of dbt.
Compared is every published mart that dbt builds before the models, row by row on its key, every
column. Left out, by nature:

* the model outputs and what reads them (user_segments, user_churn_scores, user_ltv,
  registration_forecast, next_best_actions): a daily chain scores with the models promoted on
  an earlier month, a re-ingest with models trained on all the data, so they differ by design;
* publication metadata (publication_version, `_publication`): a stamp of the run.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from orchestration.cli import main as siyu
from tests.conftest import make_settings, run_daily, step_errors

pytestmark = [pytest.mark.fault("determinism"), pytest.mark.slow]

START = dt.date(2026, 5, 1)
DAYS = 10
CHAIN_FROM = 9  # days 1..8 as one range, then 9 and 10 one run each
SALT = "daily-chain-salt"

# published marts built before the models, each with its key
MARTS = {
    "dim_users": ["person_id"],
    "fct_orders": ["order_id"],
    "fct_interactions": ["interaction_id"],
    "user_rfm": ["person_id", "as_of_date"],
    "retention_cohorts": ["cohort_date", "cohort_channel", "day_n"],
    "retention_summary": ["cohort_week", "cohort_channel"],
    "interaction_retention": ["interaction_frequency_bucket", "scenario"],
    "engagement_daily": ["date"],
    "experiment_results": ["experiment_id", "variant"],
    "kpi_daily": ["date", "kpi"],
}
# lineage of the load, not a value of the mart: the wall-clock time the row was loaded
RUN_METADATA = {"_loaded_at", "publication_version"}


def _run(data: Path, ranges: list[tuple[dt.date, dt.date]]) -> None:
    import dagster as dg

    settings = make_settings(data, SIYU_HASH_SALT=SALT)
    for first, last in ranges:
        with dg.DagsterInstance.ephemeral() as instance:
            result = run_daily(settings, first, last, instance, marts_only=True)
        assert result.success, (first, last, step_errors(result))


def _marts(data: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(data / "warehouse.duckdb"), read_only=True) as con:
        return {t: con.execute(f"select * from marts.{t}").df() for t in MARTS}


def _differences(full: pd.DataFrame, chain: pd.DataFrame, key: list[str]) -> dict[str, int]:
    """Rows only in one build, and per column the values that differ on a shared key."""
    a, b = full.set_index(key), chain.set_index(key)
    assert a.index.is_unique and b.index.is_unique
    out = {
        "rows only in the full build": len(a.index.difference(b.index)),
        "rows only in the chain": len(b.index.difference(a.index)),
    }
    common = a.index.intersection(b.index)
    for column in a.columns:
        if column in RUN_METADATA:
            continue
        x, y = a.loc[common, column], b.loc[common, column]
        same = x == y
        if pd.api.types.is_float_dtype(x) and pd.api.types.is_float_dtype(y):
            # A mean of doubles depends on the order DuckDB's threads add them in: equal to
            # the last few bits, which is all a float column can promise between two builds.
            same = same | np.isclose(x, y, rtol=1e-12, atol=0.0)
        differ = ~(same | (x.isna() & y.isna()))
        out[column] = int(differ.sum())
    return {k: v for k, v in out.items() if v}


@pytest.fixture(scope="module")
def builds(tmp_path_factory) -> tuple[dict[str, pd.DataFrame], dict[str, pd.DataFrame]]:
    root = tmp_path_factory.mktemp("daily_chain")
    landing = root / "landing"
    generate = [
        "generate", "--persons", "300", "--days", str(DAYS), "--start", START.isoformat(),
        "--seed", "7", "--out", str(landing), "--no-progress",
    ]  # fmt: skip
    assert siyu(generate) == 0
    last = START + dt.timedelta(days=DAYS - 1)
    chain_from = START + dt.timedelta(days=CHAIN_FROM - 1)
    full, chain = root / "full", root / "chain"
    for data in (full, chain):
        data.mkdir()
        (data / "landing").symlink_to(landing)
    env = pytest.MonkeyPatch()
    env.setenv("SIYU_HASH_SALT", SALT)
    env.delenv("DAGSTER_HOME", raising=False)
    env.setenv("DBT_TARGET_PATH", str(root / "dbt_target"))  # dbt's invocation folders
    daily = [(chain_from + dt.timedelta(days=n),) * 2 for n in range((last - chain_from).days + 1)]
    try:
        from orchestration.defs.dbt import ensure_manifest

        ensure_manifest()  # parsed once here, not by both builds at the same time
        # two data folders, two cores: the full build in a process of its own (a dbt step sets
        # the warehouse path in os.environ for its subprocess, so two builds never share one)
        spawn = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=1, mp_context=spawn) as pool:
            full_build = pool.submit(_run, full, [(START, last)])
            _run(chain, [(START, chain_from - dt.timedelta(days=1)), *daily])
            full_build.result()
    finally:
        env.undo()
    return _marts(full), _marts(chain)


def test_the_landing_has_late_rows_before_the_chain_starts(builds):
    """The case is real: rows of days before the daily runs land in the daily runs' folders."""
    full, _ = builds
    chain_from = START + dt.timedelta(days=CHAIN_FROM - 1)
    late = {
        table: frame[
            (pd.to_datetime(frame["_partition_date"]) >= pd.Timestamp(chain_from))
            & (pd.to_datetime(frame[date]) < pd.Timestamp(chain_from))
        ]
        for table, frame, date in [
            ("fct_orders", full["fct_orders"], "ordered_date"),
            ("fct_interactions", full["fct_interactions"], "occurred_date"),
        ]
    }
    assert sum(len(f) for f in late.values()) > 0, {t: len(f) for t, f in late.items()}


@pytest.mark.parametrize("table", list(MARTS))
def test_the_daily_chain_equals_the_full_build(builds, table):
    full, chain = builds
    assert len(full[table]) > 0 or table == "interaction_retention", table
    assert _differences(full[table], chain[table], MARTS[table]) == {}
