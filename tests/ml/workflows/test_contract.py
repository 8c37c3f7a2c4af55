"""ml.workflows.contract.ml_frame: the ml.* tables' columns, order and types."""

from __future__ import annotations

import pandas as pd
import pytest

from ml.workflows.contract import ML_TABLE_COLUMNS, ml_frame


@pytest.mark.parametrize("table", sorted(ML_TABLE_COLUMNS))
def test_the_empty_table_has_the_columns_and_types(table):
    frame = ml_frame(table)

    assert frame.empty
    assert {c: str(t) for c, t in frame.dtypes.items()} == {
        c: str(pd.Series(dtype=t).dtype) for c, t in ML_TABLE_COLUMNS[table].items()
    }


def test_a_frame_is_cut_ordered_and_cast_to_the_table():
    scored = pd.DataFrame(
        {
            "scored_at": pd.to_datetime(["2025-03-02", "2025-03-02"]).astype("datetime64[ns]"),
            "extra": [1, 2],
            "model_version": ["v1", "v1"],
            "segment": ["dormant", "dormant"],
            "person_id": ["p1", "p2"],
        },
        index=[7, 9],
    )

    frame = ml_frame("user_segments", scored)

    assert list(frame.columns) == list(ML_TABLE_COLUMNS["user_segments"])
    assert list(frame.index) == [0, 1]
    assert str(frame["scored_at"].dtype) == "datetime64[us]"


def test_a_missing_column_is_an_error():
    with pytest.raises(KeyError):
        ml_frame("user_segments", pd.DataFrame({"person_id": ["p1"]}))
