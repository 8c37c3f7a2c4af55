"""What the model workflows promise the rest of the platform: the registry names of the trained
models and the columns and types of the ml.* tables they fill. Only pandas: the Dagster definitions
import this module when they load (ml/workflows/__init__.py says why the others are heavy)."""

from __future__ import annotations

import pandas as pd

#: Registry names (warehouse.model_registry.ModelRegistry) of the monthly trained models.
SEGMENTATION = "segmentation"
CHURN = "churn"

#: The CLV horizon in days: it names two public columns (expected_orders_365d, clv_365d).
CLV_HORIZON_DAYS = 365

#: Column types of the ml.* tables, the same whether a table holds scores or is empty because
#: there is no model yet, so the dbt after-ML marts build either way.
ML_TABLE_COLUMNS: dict[str, dict[str, str]] = {
    "user_segments": {
        "person_id": "str",
        "segment": "str",
        "model_version": "str",
        "scored_at": "datetime64[us]",
    },
    "user_churn_scores": {
        "person_id": "str",
        "churn_probability": "float64",
        "risk_decile": "int64",
        "model_version": "str",
        "scored_at": "datetime64[us]",
    },
    "user_clv": {
        "person_id": "str",
        "p_alive": "float64",
        f"expected_orders_{CLV_HORIZON_DAYS}d": "float64",
        "expected_order_value": "float64",
        f"clv_{CLV_HORIZON_DAYS}d": "float64",
        "clv_as_of": "datetime64[us]",
    },
    "inbound_message_intents": {
        "msgid": "str",
        "intent": "str",
        "confidence": "float64",
        "model_version": "str",
        "scored_at": "datetime64[us]",
    },
    "registration_forecast": {
        "date": "datetime64[us]",
        "channel": "str",
        "forecast": "float64",
        "lower_80": "float64",
        "upper_80": "float64",
        "generated_at": "datetime64[us]",
    },
}


def ml_frame(table: str, frame: pd.DataFrame | None = None) -> pd.DataFrame:
    """`frame` with exactly the columns and types of ml.<table>, in order (none given: the empty
    table). Raises KeyError for a table not in :data:`ML_TABLE_COLUMNS` or a missing column."""
    columns = ML_TABLE_COLUMNS[table]
    if frame is None:
        return pd.DataFrame({c: pd.Series(dtype=t) for c, t in columns.items()})
    return frame.loc[:, list(columns)].astype(columns).reset_index(drop=True)
