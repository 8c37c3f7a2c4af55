"""The intraday path end to end, for real (generated extracts, DuckDB, Dagster runs in-process):
two batches of one day change the live tables after each, a re-sent batch changes nothing, a
failing live suite keeps the previous live publication, the sensor's cursor, and the daily run
afterwards equals a run that never had live batches."""

from __future__ import annotations

import datetime as dt
import os
import shutil
from pathlib import Path

import dagster as dg
import duckdb
import pandas as pd
import pytest

from datagen.generate import batch_names, generate
from datagen.landing import land_all_but_day, land_batch
from tests.conftest import make_settings, run_daily, step_errors

pytestmark = pytest.mark.slow

START = dt.date(2026, 5, 1)
DAYS = 4
LIVE_DAY = START + dt.timedelta(days=DAYS - 1)
BATCHES = 4


def _live_run(settings, instance):
    from orchestration.definitions import build_definitions
    from orchestration.defs.live import LIVE_JOB_NAME

    job = build_definitions(settings).resolve_job_def(LIVE_JOB_NAME)
    return job.execute_in_process(instance=instance, raise_on_error=False)


def _land(held: Path, landing: Path, batch: str) -> list[Path]:
    return land_batch(held, landing, LIVE_DAY, batch)


def _published(path: Path) -> dict[str, pd.DataFrame]:
    with duckdb.connect(str(path), read_only=True) as con:
        tables = [
            r[0]
            for r in con.execute(
                "select table_name from information_schema.tables where table_schema = 'marts' "
                "and table_name <> '_publication' order by 1"
            ).fetchall()
        ]
        out = {}
        for t in tables:
            df = con.execute(f'select * from marts."{t}"').fetchdf()
            df = df.drop(columns=[c for c in ("publication_version",) if c in df.columns])
            out[t] = df.sort_values(list(df.columns)).reset_index(drop=True)
        return out


def _live_tables(settings) -> dict[str, pd.DataFrame]:
    return _published(settings.live_dir / "serving_live.duckdb")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory):
    root = tmp_path_factory.mktemp("live")
    src = root / "generated"
    generate(
        persons=600, days=DAYS, start=START, seed=7, out=src, progress=False,
        workers=1, batches_per_day=BATCHES,
    )  # fmt: skip
    data = root / "data"
    (data / "landing").mkdir(parents=True)
    held = root / "held"
    land_all_but_day(src, data / "landing", held, LIVE_DAY)
    settings = make_settings(data)
    instance = dg.DagsterInstance.ephemeral()
    result = run_daily(settings, START, LIVE_DAY - dt.timedelta(days=1), instance=instance)
    assert result.success, step_errors(result)
    return {"root": root, "src": src, "held": held, "settings": settings, "instance": instance}


def test_sensor_requests_a_run_for_new_files_only(scenario):
    from orchestration.definitions import build_definitions

    settings = scenario["settings"]
    defs = build_definitions(settings)
    sensor = next(s for s in defs.sensors if s.name == "intraday_landing")
    assert sensor.minimum_interval_seconds == 30
    resources = {"siyu": defs.resources["siyu"]}
    with dg.build_sensor_context(instance=scenario["instance"], resources=resources) as ctx:
        # a new daily baseline is a run of its own (it supersedes the live rows)
        baseline = list(sensor(ctx))
        assert len([r for r in baseline if isinstance(r, dg.RunRequest)]) == 1
        ctx.update_cursor(ctx.cursor)
        nothing = list(sensor(ctx))
        assert not [r for r in nothing if isinstance(r, dg.RunRequest)]
        assert [r for r in nothing if isinstance(r, dg.SkipReason)]
        _land(scenario["held"], settings.landing_dir, batch_names(BATCHES)[0])
        first = list(sensor(ctx))
        assert len([r for r in first if isinstance(r, dg.RunRequest)]) == 1
        ctx.update_cursor(ctx.cursor)
        again = list(sensor(ctx))
        assert not [r for r in again if isinstance(r, dg.RunRequest)]
        assert [r for r in again if isinstance(r, dg.SkipReason)]


def test_two_batches_change_the_live_tables_and_a_resent_one_does_not(scenario):
    settings, instance, held = scenario["settings"], scenario["instance"], scenario["held"]
    names = batch_names(BATCHES)
    _land(held, settings.landing_dir, names[0])  # already there from the sensor test: a no-op
    first = _live_run(settings, instance)
    assert first.success, step_errors(first)
    after_first = _live_tables(settings)
    engagement = after_first["engagement_live"]
    assert list(engagement["date"].dt.date) == [LIVE_DAY]
    assert len(after_first["user_tags_live"]) > 0

    landed = _land(held, settings.landing_dir, names[1])
    second = _live_run(settings, instance)
    assert second.success, step_errors(second)
    after_second = _live_tables(settings)
    for table in ("engagement_live", "user_tags_live"):
        assert not after_second[table].equals(after_first[table]), table
    e1, e2 = after_first["engagement_live"].iloc[0], after_second["engagement_live"].iloc[0]
    assert e2["touches"] + e2["interacting_users"] > e1["touches"] + e1["interacting_users"]
    # the live rows agree with the landed files: every live touch is an outbound row of today
    tags = after_second["user_tags_live"]
    assert tags["touches_today"].sum() == e2["touches"]
    assert (tags["touches_today"] > 0).sum() == e2["touched_users"]

    # re-sent: the same file again (new modification time) and a copy under another name
    for path in landed:
        os.utime(path)
    resend = landed[0].with_name(landed[0].stem + "_resend" + landed[0].suffix)
    shutil.copyfile(landed[0], resend)
    third = _live_run(settings, instance)
    assert third.success, step_errors(third)
    after_resend = _live_tables(settings)
    for table in ("engagement_live", "user_tags_live"):
        pd.testing.assert_frame_equal(after_resend[table], after_second[table])
    resend.unlink()


def test_a_failing_live_suite_keeps_the_previous_publication(scenario):
    settings, instance, held = scenario["settings"], scenario["instance"], scenario["held"]
    serving = settings.live_dir / "serving_live.duckdb"
    before_target = os.readlink(serving)
    before_bytes = Path(serving).resolve().read_bytes()
    persons = settings.live_dir / "baseline" / "persons.parquet"
    good = persons.read_bytes()
    # a broken baseline: every person twice, so user_tags_live's key is not unique
    with duckdb.connect() as con:
        con.execute(
            f"copy (select * from read_parquet('{persons}') union all "
            f"select * from read_parquet('{persons}')) to '{persons}.tmp' (format parquet)"
        )
    os.replace(f"{persons}.tmp", persons)
    try:
        _land(held, settings.landing_dir, batch_names(BATCHES)[2])
        result = _live_run(settings, instance)
        assert not result.success
        failed = [e for e in result.get_asset_check_evaluations() if not e.passed]
        assert [e.check_name for e in failed] == ["user_tags_live_suite"]
        assert "person_id" in failed[0].description
        assert os.readlink(serving) == before_target
        assert Path(serving).resolve().read_bytes() == before_bytes
    finally:
        persons.write_bytes(good)
    recovered = _live_run(settings, instance)
    assert recovered.success, step_errors(recovered)
    assert os.readlink(serving) != before_target


def test_the_daily_run_after_live_batches_equals_one_without_them(scenario):
    settings, instance, held = scenario["settings"], scenario["instance"], scenario["held"]
    _land(held, settings.landing_dir, batch_names(BATCHES)[3])
    daily = run_daily(settings, LIVE_DAY, LIVE_DAY, instance=instance)
    assert daily.success, step_errors(daily)
    # the daily run supersedes the live rows: its baseline is the live day now
    live = _live_run(settings, instance)
    assert live.success, step_errors(live)
    assert _live_tables(settings)["engagement_live"].empty

    # the same extracts, never a live batch, the four days in one run
    reference = make_settings(scenario["root"] / "reference")
    shutil.copytree(scenario["src"], reference.landing_dir)
    ref = run_daily(reference, START, LIVE_DAY)
    assert ref.success, step_errors(ref)
    with_live, without = _published(settings.serving_path), _published(reference.serving_path)
    assert sorted(with_live) == sorted(without)
    for table in without:
        pd.testing.assert_frame_equal(with_live[table], without[table], obj=table)
