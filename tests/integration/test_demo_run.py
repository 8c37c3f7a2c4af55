"""The demo data set (20,000 persons over 180 days, as `make run` makes it) through the real
platform, once per test session: generator -> daily job -> models -> audit -> publication."""

import datetime as dt

import duckdb
import pandas as pd
import pytest

from datagen.evaluation import pairwise_scores
from tests.conftest import make_settings

pytestmark = pytest.mark.slow

DEMO_PERSONS, DEMO_DAYS, DEMO_START = 20_000, 180, dt.date(2026, 5, 1)


@pytest.fixture(scope="session")
def demo(tmp_path_factory, monkeypatch_session):
    from orchestration.cli import main as siyu

    data = tmp_path_factory.mktemp("demo")
    monkeypatch_session.setenv("SIYU_DATA_DIR", str(data))
    assert (
        siyu(
            [
                "generate",
                "--persons",
                str(DEMO_PERSONS),
                "--days",
                str(DEMO_DAYS),
                "--start",
                DEMO_START.isoformat(),
                "--seed",
                "42",
                "--out",
                str(data / "landing"),
                "--no-progress",
            ]
        )
        == 0
    )
    assert siyu(["run"]) == 0
    return make_settings(data)


@pytest.fixture(scope="session")
def monkeypatch_session():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def _warehouse(settings):
    return duckdb.connect(str(settings.warehouse_path), read_only=True)


def test_identity_resolution_precision_and_recall(demo):
    truth = pd.read_parquet(demo.landing_dir / "_truth" / "identities.parquet")
    with _warehouse(demo) as con:
        predicted = con.execute(
            "select id_type, id_value, person_id from intermediate.identity_map"
        ).df()
        junk = set(
            con.execute(
                "select id_value from intermediate.identity_map where person_id is null"
            ).fetchall()
        )
    scores = pairwise_scores(predicted, truth)
    assert scores["precision"] >= 0.99, scores
    assert scores["recall"] >= 0.99, scores
    # the planted junk phones are kept out of the graph
    planted_junk = set(truth.loc[truth["true_person_id"].isna(), "id_value"])
    assert planted_junk and {(v,) for v in planted_junk} <= junk


def test_core_tables_exist_and_keys_hold(demo):
    with _warehouse(demo) as con:
        for table in (
            "intermediate.identity_map",
            "marts.dim_users",
            "marts.fct_orders",
            "marts.fct_interactions",
        ):
            assert con.execute(f"select count(*) from {table}").fetchone()[0] > 0, table
        n, distinct = con.execute(
            "select count(*), count(distinct person_id) from marts.dim_users"
        ).fetchone()
        assert n == distinct


def test_published_marts_are_one_consistent_version(demo):
    with duckdb.connect(str(demo.serving_path), read_only=True) as con:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' "
                "and table_name <> '_publication'"
            ).fetchall()
        ]
        versions = set()
        for t in tables:
            versions |= {
                r[0]
                for r in con.execute(
                    f"select distinct publication_version from marts.{t}"
                ).fetchall()
            }
    assert {
        "dim_users",
        "fct_orders",
        "user_rfm",
        "kpi_daily",
        "user_ltv",
        "user_churn_scores",
        "user_segments",
        "registration_forecast",
        "experiment_results",
    } <= set(tables)
    assert len(versions) == 1
    assert {p.stem for p in demo.published_dir.glob("*.parquet")} >= set(tables)


_NUMERIC = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "FLOAT", "DOUBLE", "DECIMAL")


def _table_columns(con, schema: str) -> dict[str, list[tuple[str, str]]]:
    """Every table of `schema` but the bookkeeping ones (`_publication`, raw's `_load_log` and
    `_quarantine_rows`), with its (column, type) pairs in order."""
    rows = con.execute(
        "select table_name, column_name, data_type from information_schema.columns "
        "where table_schema = ? and not starts_with(table_name, '_') "
        "order by table_name, ordinal_position",
        [schema],
    ).fetchall()
    out: dict[str, list[tuple[str, str]]] = {}
    for table, column, kind in rows:
        out.setdefault(table, []).append((column, kind))
    return out


def _profile_sql(columns: list[tuple[str, str]], clickhouse: bool) -> str:
    """count, and per column: non-null count and sum (numbers) or distinct count (the rest)."""
    parts = ["count()" if clickhouse else "count(*)"]
    for name, kind in columns:
        col = f'"{name}"'
        parts.append(f"count({col})")
        if kind.startswith(_NUMERIC):
            parts.append(f"sum(toFloat64({col}))" if clickhouse else f"sum({col}::double)")
        else:
            parts.append(f"uniqExact({col})" if clickhouse else f"count(distinct {col})")
    return ", ".join(parts)


def test_clickhouse_reads_the_published_parquet_and_the_raw_lake_with_duckdb_numbers(demo):
    """Issue 12: the published Parquet and the raw lake are read by ClickHouse (chDB) unchanged,
    and every table's row count, per-column counts, sums and distinct counts equal DuckDB's."""
    import json

    import chdb

    def clickhouse_row(sql: str) -> list:
        return json.loads(str(chdb.query(sql, "JSONCompact")))["data"][0]

    def same(duck: tuple, house: list, what: str) -> None:
        assert len(duck) == len(house), what
        for i, (d, h) in enumerate(zip(duck, house, strict=True)):
            if isinstance(d, float) or isinstance(h, float):
                assert h == pytest.approx(d, rel=1e-9, abs=1e-9), (what, i)
            else:
                assert int(h) == int(d), (what, i, d, h)

    published = demo.published_dir.resolve()
    with duckdb.connect(str(demo.serving_path), read_only=True) as con:
        tables = _table_columns(con, "marts")
        assert len(tables) >= 15
        for table, columns in tables.items():
            path = published / f"{table}.parquet"
            glob = str(path if path.exists() else published / table / "*" / "*.parquet")
            duck = con.execute(
                f"select {_profile_sql(columns, False)} from marts.{table}"
            ).fetchone()
            house = clickhouse_row(
                f"select {_profile_sql(columns, True)} from file('{glob}', Parquet)"
            )
            same(duck, house, table)
    from warehouse.lake import lake_days, parquet_glob

    lake = demo.data_dir / "lake"
    with _warehouse(demo) as con:
        raw_tables = _table_columns(con, "raw")
        assert len(raw_tables) >= 12
        for table, columns in raw_tables.items():
            loaded_days = con.execute(
                f"select distinct _partition_date from raw.{table} order by 1"
            ).fetchall()
            assert lake_days(lake, table) == [d for (d,) in loaded_days], table
            duck = con.execute(f"select {_profile_sql(columns, False)} from raw.{table}").fetchone()
            house = clickhouse_row(
                f"select {_profile_sql(columns, True)} "
                f"from file('{parquet_glob(lake, table)}', Parquet)"
            )
            same(duck, house, f"lake {table}")


def test_planted_experiment_lift_lies_in_the_reported_interval(demo):
    truth = pd.read_parquet(demo.landing_dir / "_truth" / "experiments.parquet")
    true_lift = truth[truth["variant"] == "treatment"].set_index("experiment_id")["true_lift"]
    with _warehouse(demo) as con:
        results = (
            con.execute(
                "select experiment_id, ci_low, ci_high, p_value from marts.experiment_results "
                "where variant = 'treatment'"
            )
            .df()
            .set_index("experiment_id")
        )
    assert set(true_lift.index) <= set(results.index)
    for experiment, lift in true_lift.items():
        row = results.loc[experiment]
        assert row["ci_low"] <= lift <= row["ci_high"], (experiment, lift, row.to_dict())


def test_interaction_raises_retention_as_planted(demo):
    with _warehouse(demo) as con:
        by_bucket = (
            con.execute(
                "select interaction_frequency_bucket, d30_retention, users from marts.interaction_retention "
                "where scenario = 'all' order by 1"
            )
            .df()
            .set_index("interaction_frequency_bucket")
        )
    assert by_bucket["users"].min() > 100
    none, most = by_bucket["d30_retention"].iloc[0], by_bucket["d30_retention"].iloc[-1]
    assert most > none * 1.3, by_bucket


def test_models_are_versioned_and_scores_name_their_version(demo):
    from warehouse.model_registry import ModelRegistry

    registry = ModelRegistry(demo.models_dir)
    churn = registry.promoted_version("churn")
    assert churn and registry.promoted_version("segmentation")
    with _warehouse(demo) as con:
        assert con.execute(
            "select distinct model_version from marts.user_churn_scores"
        ).fetchall() == [(churn,)]
        deciles = con.execute(
            "select min(risk_decile), max(risk_decile) from marts.user_churn_scores"
        ).fetchone()
    assert deciles == (1, 10)


def test_the_run_leaves_a_dated_versioned_report(demo):
    reports = sorted(p.name for p in demo.reports_dir.glob("*_RPT_daily_v*.md"))
    assert reports and reports[-1].startswith("2026-10-27_RPT_daily_v")
    index = (demo.reports_dir / "index.md").read_text(encoding="utf-8")
    assert "2026-10-27_RPT_daily_v1.md" in index
    # seed 001's other categories, the same day, naming and versions, each also an HTML page
    for stem in ("REG_registrations", "ACT_campaigns", "FBK_feedback"):
        document = demo.reports_dir / f"2026-10-27_{stem}_v1.md"
        assert document.name in index and document.with_suffix(".html").is_file()
    act = (demo.reports_dir / "2026-10-27_ACT_campaigns_v1.md").read_text(encoding="utf-8")
    assert "exp_01" in act  # the demo's planted experiments


# --- the audit gate: these tests plant bad data in the demo build, so they run last -------------


def _served_fingerprint(settings) -> dict[str, str]:
    """What a BI tool sees: the live targets and the bytes of every served file."""
    import hashlib
    import os

    out = {
        "serving -> ": os.readlink(settings.serving_path),
        "published -> ": os.readlink(settings.published_dir),
    }
    for path in [
        settings.serving_path.resolve(),
        *sorted(settings.published_dir.resolve().glob("*.parquet")),
    ]:
        out[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _run_assets(settings, keys):
    import dagster as dg

    from orchestration.definitions import build_definitions

    defs = build_definitions(settings)
    job = defs.resolve_job_def("daily")
    return job.execute_in_process(
        instance=dg.DagsterInstance.ephemeral(),
        raise_on_error=False,
        asset_selection=[dg.AssetKey(k) for k in keys],
        tags={"dagster/partition": "2026-10-27"},
    )


def test_a_duplicate_person_in_a_mart_blocks_publication(demo):
    before = _served_fingerprint(demo)
    with duckdb.connect(str(demo.warehouse_path)) as con:
        con.execute("insert into marts.user_segments select * from marts.user_segments limit 1")
    result = _run_assets(demo, [["audit", "quality_gate"], ["serving", "publication"]])
    assert not result.success
    checks = {
        e.event_specific_data.check_name: e.event_specific_data.passed
        for e in result.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert checks["user_segments_suite"] is False
    assert checks["dim_users_suite"] is True
    assert not [
        e
        for e in result.all_events
        if e.event_type_value == "ASSET_MATERIALIZATION"
        and e.asset_key.path == ["serving", "publication"]
    ]
    assert _served_fingerprint(demo) == before
    with duckdb.connect(str(demo.warehouse_path)) as con:
        stored = con.execute(
            "select count(*) from audit.validation_results where table_name = 'user_segments' "
            "and not success"
        ).fetchone()[0]
    assert stored >= 1
    # the blocked attempt is in `siyu publish --log`, with the failed check and its reason
    from orchestration.cli import failure_lines
    from publishing.log import read_log

    blocked = read_log(demo.serving_path.parent / "publications", event="blocked")
    assert blocked and blocked[-1]["run_id"] == result.run_id
    assert "user_segments" in " ".join(blocked[-1]["failed_checks"])
    reason = blocked[-1]["check_summary"]["user_segments"]["reason"]
    assert "expect_column_values_to_be_unique(person_id)" in reason
    # and `siyu run` prints that reason, not the first line of an exception
    lines = failure_lines(result)
    assert any(
        "user_segments_suite failed: " in line and "unique(person_id)" in line for line in lines
    ), lines


def test_five_percent_negative_amounts_are_quarantined_rows_and_the_rest_publishes(demo):
    """A negative amount is a row rule (issue 15): those rows go to quarantine with file, row and
    rule, no negative amount reaches the marts, and the day's other rows still publish."""
    last_day = demo.landing_dir / "crm" / "2026-10-27"
    orders = pd.read_csv(
        last_day / "orders.csv",
        encoding_errors="strict",
        encoding=_encoding(last_day / "orders.csv"),
    )
    assert len(orders) > 20
    bad = orders.sample(frac=0.05, random_state=0).index.union(orders.index[:1])
    orders.loc[bad, "订单金额"] = -orders.loc[bad, "订单金额"].abs() - 1
    orders.to_csv(last_day / "orders.csv", index=False, encoding="utf-8")
    from tests.conftest import run_daily

    result = run_daily(demo, dt.date(2026, 10, 27), dt.date(2026, 10, 27))
    assert result.success
    with duckdb.connect(str(demo.warehouse_path), read_only=True) as con:
        quarantined = con.execute(
            "select count(*) from raw._quarantine_rows where source_file = "
            "'crm/2026-10-27/orders.csv' and rule = 'negative_amount'"
        ).fetchone()[0]
        negative = con.execute("select count(*) from marts.fct_orders where amount < 0").fetchone()
        kept = con.execute(
            "select count(*) from marts.fct_orders where ordered_date = date '2026-10-27'"
        ).fetchone()[0]
    assert quarantined == len(bad)
    assert negative[0] == 0
    assert kept > 0


def _encoding(path) -> str:
    data = path.read_bytes()
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    try:
        data.decode("utf-8")
        return "utf-8"
    except UnicodeDecodeError:
        return "gb18030"
