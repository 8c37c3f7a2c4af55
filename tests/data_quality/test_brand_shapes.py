"""Suites judge what a table must satisfy, not the demo's volumes: empty but valid tables pass,
and an expectation that cannot apply says why in its result."""

import pandas as pd
import pytest

from data_quality.runner import load_suite, validate_frame

AS_OF = "2026-08-28"
CRM_ONLY = {"sources": ["crm"], "models": []}
ALL_SOURCES_TRAINED = {
    "sources": ["crm", "wecom", "miniprogram"],
    "models": ["churn", "segmentation"],
}


def empty_frame(table: str) -> pd.DataFrame:
    suite = load_suite(table)
    columns = next(
        e["kwargs"]["column_set"]
        for e in suite.expectations
        if e["type"] == "expect_table_columns_to_match_set"
    )
    return pd.DataFrame({c: pd.Series(dtype="object") for c in columns})


@pytest.mark.parametrize("table", ["experiment_results", "next_best_actions"])
def test_an_empty_table_that_may_be_empty_passes(table):
    no_keys = {"dim_users.person_id": [], "dim_users.contactable_person_id": []}
    result = validate_frame(table, empty_frame(table), as_of=AS_OF, reference=no_keys)
    assert result.success, result.summary()


def test_no_interactions_pass_for_a_crm_only_brand_and_say_why():
    result = validate_frame(
        "fct_interactions",
        empty_frame("fct_interactions"),
        as_of=AS_OF,
        row_count=0,
        context=CRM_ONLY,
    )
    assert result.success, result.summary()
    reasons = " ".join(result.not_applicable)
    assert "needs a wecom or miniprogram source" in reasons
    assert "SIYU_SOURCES" in reasons
    # freshness cannot be judged on no rows: not applicable, not a failure on a null maximum
    assert "the table is empty" in reasons


def test_no_interactions_fail_for_a_brand_with_wecom():
    result = validate_frame(
        "fct_interactions",
        empty_frame("fct_interactions"),
        as_of=AS_OF,
        row_count=0,
        context={"sources": ["crm", "wecom"], "models": []},
    )
    assert not result.success
    assert [r["expectation"] for r in result.failed] == ["expect_table_row_count_to_be_between"]


def test_scores_may_be_empty_until_a_model_is_promoted():
    frame = empty_frame("user_churn_scores")
    untrained = validate_frame(
        "user_churn_scores", frame, as_of=AS_OF, reference=[], context=CRM_ONLY
    )
    assert untrained.success, untrained.summary()
    assert any("no promoted churn model" in r for r in untrained.not_applicable)
    trained = validate_frame(
        "user_churn_scores", frame, as_of=AS_OF, reference=[], context=ALL_SOURCES_TRAINED
    )
    assert not trained.success


def test_an_unknown_condition_is_a_suite_error(tmp_path, monkeypatch):
    import json

    import data_quality.runner as runner

    doc = json.loads((runner.SUITES_DIR / "experiment_results.json").read_text())
    doc["expectations"][1].setdefault("meta", {})["applies_when"] = {"weekday": "monday"}
    (tmp_path / "experiment_results.json").write_text(json.dumps(doc))
    monkeypatch.setattr(runner, "SUITES_DIR", tmp_path)
    result = validate_frame("experiment_results", pd.DataFrame(), as_of=AS_OF)
    assert not result.success and "unknown applies_when condition" in result.error


def test_a_kpi_without_a_source_is_not_measured_never_a_null_value():
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime([AS_OF] * 3),
            "kpi": ["repurchase_rate_30d", "interaction_rate", "community_share"],
            "value": [0.31, None, None],
            "target": [0.28, 0.35, 0.40],
            "status": ["green", "not_measured", "green"],
            "trailing_28d": [0.30, None, None],
            "change_pct": [0.03, None, None],
            "is_anomaly": [False, False, False],
        }
    )
    result = validate_frame("kpi_daily", frame, as_of=AS_OF)
    # not_measured is a valid status; a measured ("green") KPI without a value is not
    assert [(r["expectation"], r["column"], r["unexpected_count"]) for r in result.failed] == [
        ("expect_column_values_to_not_be_null", "value", 1)
    ]
    assert validate_frame("kpi_daily", frame.iloc[:2], as_of=AS_OF).success


def test_insufficient_data_is_a_segment():
    columns = list(empty_frame("user_segments").columns)
    row = {c: None for c in columns}
    row.update(
        person_id="p_1",
        segment="insufficient_data",
        model_version="v1",
        scored_at=pd.Timestamp(AS_OF),
    )
    frame = pd.DataFrame([row], columns=columns)
    result = validate_frame(
        "user_segments", frame, as_of=AS_OF, reference=["p_1"], context=ALL_SOURCES_TRAINED
    )
    assert not [r for r in result.failed if r["column"] == "segment"], result.summary()
