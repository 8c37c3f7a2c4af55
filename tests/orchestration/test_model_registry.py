"""Model registry: versions, manifests, promotion, integrity, stable data hashes."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from warehouse.model_registry import ModelRegistry, hash_frame

AT = datetime(2026, 11, 22, 6, 0, 0, tzinfo=UTC)


def _save(registry, name="churn", obj=None, when=AT, **overrides):
    kwargs = dict(
        training_window=(date(2026, 1, 1), date(2026, 10, 31)),
        features=["recency_days", "frequency_365d"],
        params={"max_iter": np.int64(200), "calibration": "isotonic"},
        metrics={
            "roc_auc": np.float64(0.81),
            "brier": 0.12,
            "calibration": pd.DataFrame({"bin": [1, 2], "n": [10, 20]}),
            "missing": float("nan"),
        },
        training_data_hash="abc123",
        saved_at=when,
    )
    kwargs.update(overrides)
    return registry.save(name, obj if obj is not None else {"weights": [1, 2, 3]}, **kwargs)


def test_save_writes_model_and_manifest(tmp_path):
    registry = ModelRegistry(tmp_path)
    version = _save(registry)
    assert version == "churn-v0001-20261122T060000"
    folder = tmp_path / "churn" / version
    assert (folder / "model.pkl").is_file()
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["version"] == version
    assert manifest["training_window"] == {"start": "2026-01-01", "end": "2026-10-31"}
    assert manifest["features"] == ["recency_days", "frequency_365d"]
    assert manifest["params"]["max_iter"] == 200
    assert manifest["metrics"]["roc_auc"] == pytest.approx(0.81)
    assert manifest["metrics"]["calibration"] == [{"bin": 1, "n": 10}, {"bin": 2, "n": 20}]
    assert manifest["metrics"]["missing"] is None
    assert manifest["training_data_hash"] == "abc123"
    assert not [p for p in (tmp_path / "churn").iterdir() if p.name.startswith(".")]


def test_versions_increase_and_earlier_versions_stay(tmp_path):
    registry = ModelRegistry(tmp_path)
    v1 = _save(registry, obj={"n": 1})
    v2 = _save(registry, obj={"n": 2}, when=datetime(2026, 11, 21, tzinfo=UTC))  # clock went back
    v3 = _save(registry, obj={"n": 3})
    assert [v1, v2, v3] == [
        "churn-v0001-20261122T060000",
        "churn-v0002-20261121T000000",
        "churn-v0003-20261122T060000",
    ]
    assert registry.load("churn") == {"n": 3}
    assert registry.load("churn", "latest") == {"n": 3}
    assert registry.load("churn", v1) == {"n": 1}
    assert [m["version"] for m in registry.list("churn")] == [v1, v2, v3]


def test_promotion(tmp_path):
    registry = ModelRegistry(tmp_path)
    assert registry.promoted_version("churn") is None
    v1 = _save(registry, obj={"n": 1})
    with pytest.raises(FileNotFoundError, match="no promoted version"):
        registry.load("churn", "promoted")
    registry.mark_promoted("churn", v1, reason="beats baseline")
    _save(registry, obj={"n": 2})
    assert registry.promoted_version("churn") == v1
    assert registry.load("churn", "promoted") == {"n": 1}
    assert [m["promoted"] for m in registry.list("churn")] == [True, False]
    with pytest.raises(FileNotFoundError):
        registry.mark_promoted("churn", "churn-v0099-20260101T000000")


def test_list_all_models_and_real_estimator_roundtrip(tmp_path):
    registry = ModelRegistry(tmp_path)
    X = np.array([[0.0], [1.0], [2.0], [3.0]])
    model = LogisticRegression().fit(X, [0, 0, 1, 1])
    _save(registry, name="segmentation")
    v = _save(registry, name="churn", obj=model)
    assert [(m["name"], m["sequence"]) for m in registry.list()] == [
        ("churn", 1),
        ("segmentation", 1),
    ]
    loaded = registry.load("churn", v)
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X))
    assert registry.manifest("churn")["model_class"].endswith("LogisticRegression")
    assert ModelRegistry(tmp_path / "nothing").list() == []


def test_tampered_pickle_is_refused(tmp_path):
    registry = ModelRegistry(tmp_path)
    v = _save(registry)
    (tmp_path / "churn" / v / "model.pkl").write_bytes(b"not the model")
    with pytest.raises(ValueError, match="model_sha256"):
        registry.load("churn", v)


def test_unknown_model_and_bad_name(tmp_path):
    registry = ModelRegistry(tmp_path)
    with pytest.raises(FileNotFoundError, match="no versions"):
        registry.load("churn")
    with pytest.raises(ValueError, match="lower-case"):
        _save(registry, name="../evil")


def test_hash_frame_is_stable_and_content_sensitive():
    df = pd.DataFrame({"person_id": ["a", "b"], "x": [1.0, 2.0]})
    h = hash_frame(df)
    assert h == hash_frame(df.copy())
    assert len(h) == 64
    assert h != hash_frame(df.assign(x=[1.0, 2.5]))
    assert h != hash_frame(df.rename(columns={"x": "y"}))
    assert h != hash_frame(df.iloc[::-1])
    assert h != hash_frame(df.astype({"x": "float32"}))


def test_a_skipped_training_is_recorded_without_a_version_or_promotion(tmp_path):
    registry = ModelRegistry(tmp_path)
    assert registry.last_skipped("churn") is None
    registry.record_skipped(
        "churn",
        reason="not enough history",
        training_window={"data_end": date(2026, 5, 31)},
        recorded_at=AT,
    )
    assert registry.last_skipped("churn") == {
        "name": "churn",
        "reason": "not enough history",
        "training_window": {"data_end": "2026-05-31"},
        "recorded_at": "2026-11-22T06:00:00+00:00",
    }
    assert registry.list("churn") == [] and registry.promoted_version("churn") is None
    # a trained version and its promotion leave the skip record readable, and are not hidden
    version = _save(registry)
    registry.mark_promoted("churn", version)
    registry.record_skipped("churn", reason="again", training_window={}, recorded_at=AT)
    assert registry.promoted_version("churn") == version
    assert [m["version"] for m in registry.list()] == [version]
    assert registry.last_skipped("churn")["reason"] == "again"


def test_the_last_attempt_day_is_the_latest_of_the_last_version_and_the_last_skip(tmp_path):
    """`siyu run` trains before scoring only when a model was not tried this month yet."""
    registry = ModelRegistry(tmp_path)
    assert registry.last_attempt_day("churn") is None
    _save(registry, training_window={"snapshots": ["2026-09-01"], "data_end": "2026-10-02"})
    assert registry.last_attempt_day("churn") == "2026-10-02"
    registry.record_skipped("churn", reason="r", training_window={"data_end": "2026-11-05"})
    assert registry.last_attempt_day("churn") == "2026-11-05"
    registry.record_skipped("segmentation", reason="r", training_window={"as_of": "2026-11-07"})
    assert registry.last_attempt_day("segmentation") == "2026-11-07"
    _save(registry, name="segmentation")  # a (start, end) window
    assert registry.last_attempt_day("segmentation") == "2026-11-07"
