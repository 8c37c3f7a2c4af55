import datetime as dt
import json

import pytest

from orchestration.lib.dbt_args import dbt_build_args, dbt_vars


def test_vars_from_a_partition_window():
    v = dbt_vars(dt.date(2026, 5, 1), dt.date(2026, 5, 3))
    assert v == {"min_date": "2026-05-01", "max_date": "2026-05-03"}


def test_no_setting_or_secret_goes_on_the_command_line():
    args = dbt_build_args(dbt_vars(dt.date(2026, 5, 1), dt.date(2026, 5, 3)))
    assert not any("salt" in a or "junk" in a for a in args)


def test_unpartitioned_run_has_no_window():
    assert dbt_vars(None, None) == {}
    assert dbt_build_args(dbt_vars(None, None)) == ["build"]


def test_empty_window_is_rejected():
    with pytest.raises(ValueError):
        dbt_vars(dt.date(2026, 5, 3), dt.date(2026, 5, 3))


def test_build_args():
    args = dbt_build_args({"a": 1})
    assert args[:2] == ["build", "--vars"] and json.loads(args[2]) == {"a": 1}
    assert dbt_build_args({}, full_refresh=True)[-1] == "--full-refresh"


def test_old_dbt_invocation_folders_are_pruned(tmp_path):
    import os

    from orchestration.defs.dbt import prune_invocation_targets

    for i in range(9):
        folder = tmp_path / f"siyu_dbt-{i:07d}-abc"
        folder.mkdir()
        (folder / "run_results.json").write_text("{}")
        os.utime(folder, (1_000_000 + i, 1_000_000 + i))
    (tmp_path / "manifest.json").write_text("{}")
    removed = prune_invocation_targets(tmp_path, keep=3)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "manifest.json", "siyu_dbt-0000006-abc", "siyu_dbt-0000007-abc", "siyu_dbt-0000008-abc",
    ]  # fmt: skip
    assert len(removed) == 6


def test_the_run_window_goes_to_dbt_through_its_environment():
    from orchestration.lib.dbt_args import dbt_window_env

    assert dbt_window_env(dt.date(2026, 5, 1), dt.date(2026, 5, 3)) == {
        "SIYU_DBT_WINDOW_START": "2026-05-01",
        "SIYU_DBT_WINDOW_END": "2026-05-03",
    }
    assert dbt_window_env(None, None) == {}
    with pytest.raises(ValueError):
        dbt_window_env(dt.date(2026, 5, 3), dt.date(2026, 5, 3))


def test_the_plugin_reads_the_window_as_dates():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "dbt_project" / "plugins"))
    from siyu_secrets import window_from_env

    assert window_from_env({}) == {
        "siyu_window_start": dt.date(1900, 1, 1),
        "siyu_window_end": dt.date(2999, 12, 31),
    }
    window = window_from_env(
        {"SIYU_DBT_WINDOW_START": "2026-05-01", "SIYU_DBT_WINDOW_END": "2026-05-02"}
    )
    assert window["siyu_window_start"] == dt.date(2026, 5, 1)
    with pytest.raises(ValueError, match="SIYU_DBT_WINDOW_START"):
        window_from_env({"SIYU_DBT_WINDOW_START": "2026-05-01'; drop"})
