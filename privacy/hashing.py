"""Identifier normalisation and salted hashing, the same as the dbt project does it.

`salted_hash` equals dbt's `salted_hash` macro (md5 of `<salt>|<value>`); `reference_hash` is a
separate, domain-separated hash for the suppression list and the erasure audit, so a stored
reference never equals (or prefixes) a pseudonymous key of the published marts.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd

ID_TYPES = ("member_id", "phone", "unionid", "openid", "external_userid")
_NON_DIGITS = re.compile(r"[^0-9]")
_LIST_SPLIT = re.compile(r"[|,;\s\[\]\"']+")


def normalize_phone(value: str | None) -> str | None:
    """A mainland mobile number as its 11 digits, or None (dbt macro `normalize_phone`)."""
    if value is None:
        return None
    digits = _NON_DIGITS.sub("", str(value))
    if len(digits) == 11 and digits.startswith("1"):
        return digits
    if len(digits) == 13 and digits.startswith("861"):
        return digits[2:]
    if len(digits) == 15 and digits.startswith("00861"):
        return digits[4:]
    return None


def normalize_identifier(id_type: str, value: str | None) -> str | None:
    """identity_map's id_value: phones as 11 digits, every other identifier trimmed."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None
    if id_type == "phone":
        return normalize_phone(value)
    out = str(value).strip()
    return out or None


def normalize_series(id_type: str, values: pd.Series) -> pd.Series:
    """Vectorised `normalize_identifier` over a text column (None where not an identifier)."""
    text = values.astype("string")
    if id_type != "phone":
        out = text.str.strip()
        return out.where(out.str.len() > 0)
    digits = text.str.replace(r"[^0-9]", "", regex=True)
    n = digits.str.len()
    out = pd.Series(pd.NA, index=values.index, dtype="string")
    out = out.mask((n == 11) & digits.str.startswith("1"), digits)
    out = out.mask((n == 13) & digits.str.startswith("861"), digits.str[2:])
    out = out.mask((n == 15) & digits.str.startswith("00861"), digits.str[4:])
    return out


def split_list(value: str | None) -> list[str]:
    """Items of a list column ('a|b', '["a", "b"]')."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    return [item for item in _LIST_SPLIT.split(str(value)) if item]


def salted_hash(value: str, salt: str) -> str:
    """md5(`<salt>|<value>`) as hex: the dbt `salted_hash` macro in Python."""
    return hashlib.md5(f"{salt}|{value}".encode()).hexdigest()


def reference_hash(id_type: str, value: str, salt: str) -> str:
    """The stored reference of an identifier (suppression list, audit): sha256 over the salt, a
    domain tag, the type and the normalised value."""
    return hashlib.sha256(f"{salt}|siyu-erasure|{id_type}:{value}".encode()).hexdigest()
