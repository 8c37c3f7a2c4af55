"""ml.workflows.churn.train_churn on real training rows and a real registry: skipped for too
little history, trained and promoted, trained but not promoted."""

from __future__ import annotations

import pandas as pd
import pytest

from ml.workflows.churn import snapshots_to_read, train_churn
from ml.workflows.contract import CHURN
from ml.workflows.scoring import no_model_reason
from tests.ml.workflows.conftest import churn_rows, make_world

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def rows(churn_world) -> pd.DataFrame:
    return churn_rows(churn_world, churn_world.end)


def first_seen(world) -> pd.Timestamp:
    return world.users["first_seen_at"].min()


def test_one_snapshot_reads_no_rows():
    # data up to 2025-03-04: one snapshot (2025-02-01, its window ends 2025-03-03), not read
    assert snapshots_to_read(pd.Timestamp("2025-01-01"), pd.Timestamp("2025-03-05")) == []
    assert snapshots_to_read(None, pd.Timestamp("2025-03-05")) == []
    assert snapshots_to_read(pd.Timestamp("2025-01-01"), pd.Timestamp("2025-04-15")) == [
        pd.Timestamp("2025-02-01"),
        pd.Timestamp("2025-03-01"),
    ]


def test_too_little_history_is_skipped_and_recorded(registry):
    world = make_world(10, start="2025-01-01", days=45, seed=2, onboarding_days=20)
    rows = churn_rows(world, world.end)
    assert rows.empty

    result = train_churn(rows, first_seen(world), world.end, registry)

    history = f"{first_seen(world).date()} .. 2025-02-14"
    assert result.skipped_reason.startswith(f"not enough history ({history}): 0 monthly ")
    assert "need 2 (one to train, one to validate)" in result.skipped_reason
    assert result.version is None and result.serving_version is None and not result.promoted
    assert result.window == {"snapshots": [], "data_end": "2025-02-15"}
    assert result.metrics_table.empty and result.calibration_png is None
    assert registry.list(CHURN) == []
    assert registry.last_skipped(CHURN)["reason"] == result.skipped_reason
    assert no_model_reason(registry, CHURN) == (
        f"the last training was skipped: {result.skipped_reason}"
    )


def test_no_persons_is_skipped(registry):
    world = make_world(1, start="2025-01-01", days=5, seed=1)
    no_rows = churn_rows(world, world.end)

    result = train_churn(no_rows, None, pd.Timestamp("2025-03-01"), registry)

    assert result.skipped_reason == "no persons in dim_users"
    assert registry.last_skipped(CHURN)["reason"] == "no persons in dim_users"


def test_a_model_that_beats_the_baseline_is_saved_and_promoted(churn_world, rows, registry):
    result = train_churn(rows, first_seen(churn_world), churn_world.end, registry)

    assert result.skipped_reason is None
    assert result.promoted is True
    assert result.promotion_reason.startswith("promoted: better ranking, calibration no worse.")
    assert registry.promoted_version(CHURN) == result.version == result.serving_version
    assert result.candidate["roc_auc"] > result.baseline["roc_auc"]
    assert result.training_rows > 0 and result.validation_rows > 0
    assert result.training_rows + result.validation_rows <= len(rows)
    assert list(result.metrics_table.columns) == ["model", "recency_baseline"]
    assert list(result.metrics_table.index) == ["roc_auc", "pr_auc", "brier", "top_decile_lift"]
    assert result.calibration_png.startswith(PNG)
    (manifest,) = registry.list(CHURN)
    assert manifest["metrics"]["promoted"] is True
    assert manifest["training_window"] == result.window
    assert result.window["data_end"] == churn_world.end.date().isoformat()
    assert result.window["validation_snapshot"] not in result.window["snapshots"]
    assert registry.last_skipped(CHURN) is None


def test_a_model_that_does_not_beat_the_baseline_is_saved_not_promoted(churn_world, rows, registry):
    # churn decided by recency alone: the recency baseline ranks perfectly, nothing can beat it
    by_recency = rows.assign(churned=(rows["recency_days"] > 45).astype("Int64"))

    result = train_churn(by_recency, first_seen(churn_world), churn_world.end, registry)

    assert result.skipped_reason is None and result.version
    assert result.promoted is False
    assert result.baseline["roc_auc"] == pytest.approx(1.0)
    assert result.promotion_reason.startswith("not promoted: ")
    assert registry.promoted_version(CHURN) is None and result.serving_version is None
    (manifest,) = registry.list(CHURN)
    assert manifest["metrics"]["promoted"] is False
    assert no_model_reason(registry, CHURN) == (
        f"{result.version} was not promoted ({result.promotion_reason})"
    )


def test_a_model_not_promoted_keeps_the_serving_one(churn_world, rows, registry):
    serving = train_churn(rows, first_seen(churn_world), churn_world.end, registry)
    by_recency = rows.assign(churned=(rows["recency_days"] > 45).astype("Int64"))

    result = train_churn(by_recency, first_seen(churn_world), churn_world.end, registry)

    assert not result.promoted
    assert result.serving_version == serving.version == registry.promoted_version(CHURN)
