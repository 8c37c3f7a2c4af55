import datetime as dt
import json

import pytest

from orchestration.lib.dbt_args import dbt_build_args, dbt_vars


def test_vars_from_a_partition_window():
    v = dbt_vars(dt.date(2026, 5, 1), dt.date(2026, 5, 3), "salt", 5)
    assert v == {
        "min_date": "2026-05-01",
        "max_date": "2026-05-03",
        "hash_salt": "salt",
        "identity_junk_max_accounts": 5,
    }


def test_unpartitioned_run_has_no_window():
    assert "min_date" not in dbt_vars(None, None, "s", 5)


def test_empty_window_is_rejected():
    with pytest.raises(ValueError):
        dbt_vars(dt.date(2026, 5, 3), dt.date(2026, 5, 3), "s", 5)


def test_build_args():
    args = dbt_build_args({"a": 1})
    assert args[:2] == ["build", "--vars"] and json.loads(args[2]) == {"a": 1}
    assert dbt_build_args({}, full_refresh=True)[-1] == "--full-refresh"
