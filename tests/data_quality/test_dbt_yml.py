"""The quality gate's keys, not-null, accepted values and references come from the published marts'
dbt yml: what a yml says is what the suite checks, a broken table fails it naming the column, an
edited yml changes the suite, and every published mart's yml is an enforced dbt contract."""

from __future__ import annotations

import json
import shutil

import duckdb
import pytest
import yaml
from dq_frames import AS_OF, good_frame, reference
from test_contract_coverage import contract_tables

import data_quality.dbt_yml as dbt_yml
from data_quality.dbt_yml import derived_expectations, find_model_yml
from data_quality.runner import REFERENCE_QUERIES, load_suite, validate_duckdb, validate_frame

DERIVED_TYPES = {
    "expect_column_values_to_be_unique",
    "expect_compound_columns_to_be_unique",
    "expect_column_values_to_not_be_null",
    "expect_column_values_to_be_in_set",
    "expect_column_values_to_be_in_reference",
}


def _derived(table: str) -> list[tuple[str, dict]]:
    return [
        (e["type"], e["kwargs"])
        for e in load_suite(table).expectations
        if "derived_from" in (e.get("meta") or {})
    ]


def test_user_churn_scores_checks_what_its_yml_says():
    assert _derived("user_churn_scores") == [
        ("expect_column_values_to_be_unique", {"column": "person_id"}),
        ("expect_column_values_to_not_be_null", {"column": "person_id"}),
        (
            "expect_column_values_to_be_in_reference",
            {"column": "person_id", "reference": "dim_users.person_id"},
        ),
        ("expect_column_values_to_not_be_null", {"column": "churn_probability"}),
        ("expect_column_values_to_not_be_null", {"column": "risk_decile"}),
        ("expect_column_values_to_not_be_null", {"column": "model_version"}),
        ("expect_column_values_to_not_be_null", {"column": "scored_at"}),
    ]
    suite = load_suite("user_churn_scores")
    assert suite.derived_from == find_model_yml("user_churn_scores").path


def test_compound_key_accepted_values_and_a_where_follow_the_yml():
    rfm = _derived("user_rfm")
    assert rfm[0] == (
        "expect_compound_columns_to_be_unique",
        {"column_list": ["person_id", "as_of_date"]},
    )
    assert (
        "expect_column_values_to_be_in_set",
        {"column": "rfm_tier", "value_set": ["high_value", "potential", "churned", "other"]},
    ) in rfm
    # `quote: false` values stay numbers
    assert (
        "expect_column_values_to_be_in_set",
        {"column": "r_score", "value_set": [1, 2, 3, 4, 5]},
    ) in rfm
    # a dbt `where` becomes a pandas row condition
    assert (
        "expect_column_values_to_not_be_null",
        {
            "column": "value",
            "row_condition": '`status` != "not_measured"',
            "condition_parser": "pandas",
        },
    ) in _derived("kpi_daily")


def test_a_relationship_to_a_seed_is_the_seeds_values():
    rule_ids = next(
        kwargs["value_set"]
        for type_, kwargs in _derived("next_best_actions")
        if type_ == "expect_column_values_to_be_in_set" and kwargs["column"] == "rule_id"
    )
    seed = (dbt_yml.SEEDS_DIR / "interaction_response_matrix.csv").read_text(encoding="utf-8")
    assert rule_ids and all(f"\n{rule_id}," in seed for rule_id in rule_ids)


def test_only_contract_columns_are_derived():
    # kpi_daily.measured_from is tested in the yml but is no contract column: dbt judges it
    assert "measured_from" not in {k.get("column") for _, k in _derived("kpi_daily")}
    assert _derived("fct_orders") == []  # summary-mode facts: row-level checks stay in dbt


@pytest.mark.parametrize("table", sorted(contract_tables()))
def test_hand_written_suites_do_not_repeat_the_yml(table):
    suite = load_suite(table)
    derived = [e for e in suite.expectations if "derived_from" in (e.get("meta") or {})]
    written = [e for e in suite.expectations if "derived_from" not in (e.get("meta") or {})]
    for exp in written:
        key = (exp["type"], exp["kwargs"])
        assert key not in [(e["type"], e["kwargs"]) for e in derived], f"{suite.path}: {key}"
        # the one hand-written reference: contactability is no relationship a yml can state
        if exp["type"] in DERIVED_TYPES:
            assert exp["kwargs"] == {
                "column": "person_id",
                "reference": "dim_users.contactable_person_id",
            }, f"{suite.path} still holds {exp['type']}({exp['kwargs']}); put it in the yml"


@pytest.fixture
def con():
    con = duckdb.connect()
    con.execute("create schema marts")
    users = good_frame("dim_users")  # noqa: F841 (read by DuckDB's replacement scan)
    con.execute("create table marts.dim_users as select * from users")
    rfm = good_frame("user_rfm")  # noqa: F841
    con.execute("create table marts.user_rfm as select * from rfm")
    yield con
    con.close()


def _failed(result) -> list[tuple[str, str]]:
    return [(r["expectation"], r["column"]) for r in result.failed]


def test_a_clean_duckdb_table_passes(con):
    result = validate_duckdb(con, "user_rfm", as_of=AS_OF)
    assert result.success, result.summary()


@pytest.mark.parametrize(
    ("breakage", "failure"),
    [
        (
            "update marts.user_rfm set person_id = 'p00000' where person_id = 'p00001'",
            ("expect_compound_columns_to_be_unique", "person_id,as_of_date"),
        ),
        (
            "update marts.user_rfm set rfm_tier = null where person_id = 'p00003'",
            ("expect_column_values_to_not_be_null", "rfm_tier"),
        ),
        (
            "update marts.user_rfm set rfm_segment = 'vip' where person_id = 'p00004'",
            ("expect_column_values_to_be_in_set", "rfm_segment"),
        ),
    ],
    ids=["duplicate_key", "null", "out_of_set"],
)
def test_a_broken_duckdb_table_fails_the_derived_check_naming_the_column(con, breakage, failure):
    con.execute(breakage)
    result = validate_duckdb(con, "user_rfm", as_of=AS_OF)
    assert not result.success
    assert failure in _failed(result), result.summary()
    assert f"{failure[0]}({failure[1]})" in result.summary()
    assert "dbt test" in result.summary()  # the why says where the rule is written


def test_an_orphan_fails_the_derived_relationship(con):
    con.execute("update marts.user_rfm set person_id = 'p_unknown' where person_id = 'p00002'")
    result = validate_duckdb(con, "user_rfm", as_of=AS_OF)
    assert _failed(result) == [("expect_column_values_to_be_in_reference", "person_id")]


@pytest.fixture
def marts_copy(tmp_path, monkeypatch):
    """A copy of the marts' yml files the test may edit, read instead of the real ones."""
    copy = tmp_path / "marts"
    shutil.copytree(dbt_yml.MARTS_MODELS_DIR, copy)
    monkeypatch.setattr(dbt_yml, "MARTS_MODELS_DIR", copy)
    return copy


def _edit(path, change) -> None:
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    change(doc["models"][0])
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


def _column(model: dict, name: str) -> dict:
    return next(c for c in model["columns"] if c["name"] == name)


def test_changing_a_yml_test_changes_the_suite(marts_copy):
    frame = good_frame("user_rfm")
    frame.loc[0, "rfm_tier"] = "other"
    assert validate_frame("user_rfm", frame, as_of=AS_OF, reference=reference()).success

    def drop_other(model):
        for test in _column(model, "rfm_tier")["data_tests"]:
            if isinstance(test, dict) and "accepted_values" in test:
                test["accepted_values"]["arguments"]["values"].remove("other")
        _column(model, "monetary")["data_tests"] = ["not_null"]

    _edit(marts_copy / "measurement" / "user_rfm.yml", drop_other)
    derived = _derived("user_rfm")
    assert (
        "expect_column_values_to_be_in_set",
        {"column": "rfm_tier", "value_set": ["high_value", "potential", "churned"]},
    ) in derived
    assert ("expect_column_values_to_not_be_null", {"column": "monetary"}) in derived
    result = validate_frame("user_rfm", frame, as_of=AS_OF, reference=reference())
    assert _failed(result) == [("expect_column_values_to_be_in_set", "rfm_tier")]


def test_a_warning_test_does_not_gate_and_a_key_may_be_dbt_utils_style(marts_copy):
    def change(model):
        model["data_tests"] = [
            {
                "dbt_utils.unique_combination_of_columns": {
                    "arguments": {"combination_of_columns": ["date", "kpi"]}
                }
            }
        ]
        _column(model, "status")["data_tests"] = [{"not_null": {"config": {"severity": "warn"}}}]

    _edit(marts_copy / "measurement" / "kpi_daily.yml", change)
    derived = _derived("kpi_daily")
    assert derived[0] == ("expect_compound_columns_to_be_unique", {"column_list": ["date", "kpi"]})
    assert ("expect_column_values_to_not_be_null", {"column": "status"}) not in derived


def test_an_untranslatable_yml_test_is_a_suite_error_naming_the_file(marts_copy):
    def change(model):
        _column(model, "value")["data_tests"] = [
            {"not_null": {"config": {"where": "status in ('green', 'red')"}}}
        ]

    _edit(marts_copy / "measurement" / "kpi_daily.yml", change)
    result = validate_frame("kpi_daily", good_frame("kpi_daily"), as_of=AS_OF)
    assert not result.success
    assert "kpi_daily.yml" in result.error and "cannot translate where" in result.error


def test_a_relationship_the_runner_cannot_check_is_an_error():
    with pytest.raises(ValueError, match="REFERENCE_QUERIES"):
        derived_expectations(
            "user_rfm", ["person_id"], references=set(REFERENCE_QUERIES) - {"dim_users.person_id"}
        )


# --------------------------------------------------------------------------------------------
# dbt contracts


@pytest.mark.parametrize("table", sorted(contract_tables()))
def test_every_published_mart_is_an_enforced_contract_with_typed_columns(table):
    entry = find_model_yml(table)
    assert (entry.config.get("contract") or {}).get("enforced") is True, entry.path
    untyped = [c["name"] for c in entry.columns if not c.get("data_type")]
    assert not untyped, f"{entry.path}: columns without data_type {untyped}"
    # the contract's columns are all declared (the contract fixes the built columns)
    declared = {c["name"] for c in entry.columns}
    assert contract_tables()[table] - {"share"} <= declared, entry.path


def test_derived_results_are_plain_json():
    result = validate_frame("kpi_daily", good_frame("kpi_daily"), as_of=AS_OF)
    assert result.success, result.summary()
    json.dumps(result.results)
