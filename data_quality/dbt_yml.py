"""Expectations derived from the dbt yml of the published marts.

Keys, not-null, accepted values and references of a published mart are written once, as dbt tests
in the model's yml (`dbt_project/models/marts/**/<model>.yml`); this module turns them into the
Great Expectations configurations the quality gate runs, so the gate and `dbt build` judge the
same rules and a rule changed in the yml changes both. The hand-written suites keep what dbt's
yml does not say: the column set, row counts, ranges, freshness and `mostly` thresholds.

| dbt test | expectation |
| --- | --- |
| `unique` | `expect_column_values_to_be_unique` |
| `unique_combination` (this project's), `dbt_utils.unique_combination_of_columns` | `expect_compound_columns_to_be_unique` |
| `not_null` | `expect_column_values_to_not_be_null` |
| `accepted_values` | `expect_column_values_to_be_in_set` |
| `relationships` to a model key named in the runner's reference key sets | `expect_column_values_to_be_in_reference` (evaluated by the runner) |
| `relationships` to a seed | `expect_column_values_to_be_in_set` over the seed CSV's values |

A test's `config.where` becomes a pandas `row_condition` (simple comparisons only); a test with
`severity: warn` or `enabled: false` does not gate dbt and so does not gate publication; a test's
`config.meta.applies_when` is kept (see the runner). Only tests on the columns the caller names
(the data contract's columns) are derived: the other columns are judged by dbt in the build.
Other tests (`value_in_range`, ...) are ranges, which the hand-written suites hold.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
MARTS_MODELS_DIR = DBT_PROJECT_DIR / "models" / "marts"
SEEDS_DIR = DBT_PROJECT_DIR / "seeds"

UNIQUE_COMBINATION_TESTS = {
    "unique_combination": "columns",
    "dbt_utils.unique_combination_of_columns": "combination_of_columns",
}
_REF_RE = re.compile(r"""^\s*ref\(\s*(?:['"][\w-]+['"]\s*,\s*)?['"](\w+)['"]\s*\)\s*$""")
# dbt `where` clauses the derivation can translate: `<column> <op> '<text>'`, `<column> is [not]
# null`. Anything else is an error, not a silently wider check.
_WHERE_COMPARE_RE = re.compile(r"^\s*(\w+)\s*(<>|!=|=)\s*'([^']*)'\s*$")
_WHERE_NULL_RE = re.compile(r"^\s*(\w+)\s+is\s+(not\s+)?null\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class DbtModelYml:
    """One model's entry in a yml file: its columns (name -> properties) and model-level tests."""

    name: str
    path: Path
    model: Mapping[str, Any]

    @property
    def columns(self) -> list[Mapping[str, Any]]:
        return list(self.model.get("columns") or [])

    @property
    def config(self) -> Mapping[str, Any]:
        return self.model.get("config") or {}


def find_model_yml(model: str, models_dir: Path | None = None) -> DbtModelYml:
    """The yml entry of `model` under `models_dir` (default: the marts folder).

    Raises FileNotFoundError when no yml file there declares the model.
    """
    root = models_dir or MARTS_MODELS_DIR
    for path in sorted(root.rglob("*.yml")):
        for entry in _parse_yml(path, path.stat().st_mtime_ns).get("models") or []:
            if isinstance(entry, Mapping) and entry.get("name") == model:
                return DbtModelYml(name=model, path=path, model=entry)
    raise FileNotFoundError(f"no dbt yml under {root} declares model {model!r}")


@cache
def _parse_yml(path: Path, mtime_ns: int) -> dict[str, Any]:
    """A yml file's content; cached by modification time, so an edited file is read again."""
    del mtime_ns  # part of the cache key only
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    doc = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 (safe loader)
    return doc if isinstance(doc, dict) else {}


def derived_expectations(
    model: str,
    columns: Collection[str],
    references: Collection[str],
    *,
    models_dir: Path | None = None,
    seeds_dir: Path | None = None,
) -> tuple[list[dict[str, Any]], Path]:
    """The GX expectation configurations the dbt tests of `model` stand for, and the yml's path.

    columns: the columns to derive checks for (the contract's columns of the table); a compound
        key is derived only when all its columns are among them.
    references: key set names (`<model>.<column>`) the runner can check a relationship against;
        a relationship to another model must be one of them, one to a seed becomes a value set.

    Raises ValueError naming the yml file and test for a test that cannot be translated.
    """
    entry = find_model_yml(model, models_dir)
    wanted = set(columns)
    seeds = seeds_dir or SEEDS_DIR
    key_columns = _key_columns(entry)
    out: list[dict[str, Any]] = []
    for test_name, args, config in _tests(entry.model):
        column_list = args.get(UNIQUE_COMBINATION_TESTS.get(test_name, ""))
        if column_list and set(column_list) <= wanted and _gates(config):
            out.append(
                _expectation(
                    "expect_compound_columns_to_be_unique",
                    {"column_list": list(column_list)},
                    "grain: one row per key",
                    entry,
                    test_name,
                    config,
                )
            )
    for col in entry.columns:
        name = col.get("name")
        if name not in wanted:
            continue
        for test_name, args, config in _tests(col):
            if not _gates(config):
                continue
            where = f"{entry.path.name}: {test_name} on {model}.{name}"
            exp = _column_expectation(
                test_name, name, args, entry, config, key_columns, references, seeds, where
            )
            if exp is not None:
                out.append(exp)
    return out, entry.path


def _column_expectation(
    test_name: str,
    column: str,
    args: Mapping[str, Any],
    entry: DbtModelYml,
    config: Mapping[str, Any],
    key_columns: set[str],
    references: Collection[str],
    seeds_dir: Path,
    where: str,
) -> dict[str, Any] | None:
    if test_name == "unique":
        return _expectation(
            "expect_column_values_to_be_unique",
            {"column": column},
            "grain: one row per key",
            entry,
            test_name,
            config,
        )
    if test_name == "not_null":
        why = "key column" if column in key_columns else "never null"
        return _expectation(
            "expect_column_values_to_not_be_null",
            {"column": column},
            why,
            entry,
            test_name,
            config,
        )
    if test_name == "accepted_values":
        values = args.get("values")
        if not isinstance(values, list) or not values:
            raise ValueError(f"{where}: accepted_values needs a non-empty 'values' list")
        return _expectation(
            "expect_column_values_to_be_in_set",
            {"column": column, "value_set": list(values)},
            "allowed values",
            entry,
            test_name,
            config,
        )
    if test_name == "relationships":
        target, field = _ref_name(args.get("to"), where), args.get("field")
        reference = f"{target}.{field}"
        if reference in references:
            return _expectation(
                "expect_column_values_to_be_in_reference",
                {"column": column, "reference": reference},
                f"every value exists in {reference}",
                entry,
                test_name,
                config,
            )
        seed = seeds_dir / f"{target}.csv"
        if seed.exists():
            return _expectation(
                "expect_column_values_to_be_in_set",
                {"column": column, "value_set": _seed_values(seed, str(field), where)},
                f"every value is a {field} of the seed {target}",
                entry,
                test_name,
                config,
            )
        raise ValueError(
            f"{where}: relationships to {reference} is neither a seed in {seeds_dir} nor a "
            f"reference key set the runner knows ({', '.join(references)}); add it to "
            "data_quality.runner.REFERENCE_QUERIES"
        )
    return None  # ranges and the project's other tests stay in the hand-written suites


def _expectation(
    type_: str,
    kwargs: dict[str, Any],
    why: str,
    entry: DbtModelYml,
    test_name: str,
    config: Mapping[str, Any],
) -> dict[str, Any]:
    where = config.get("where")
    if where:
        kwargs = {
            **kwargs,
            "row_condition": _row_condition(where, f"{entry.path.name}: {test_name}"),
            "condition_parser": "pandas",
        }
        why = f"{why} where {where}"
    meta: dict[str, Any] = {
        "why": f"{why} (dbt test {test_name} in {_display(entry.path)})",
        "derived_from": {"yml": _display(entry.path), "model": entry.name, "test": test_name},
    }
    applies_when = (config.get("meta") or {}).get("applies_when")
    if applies_when:
        meta["applies_when"] = dict(applies_when)
    return {"type": type_, "kwargs": kwargs, "meta": meta}


def _tests(node: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(test name, arguments, config) for each test of a model or column node.

    Accepts dbt 1.11's form (`arguments:` and `config:` under the test) and the older one
    (arguments beside `config:`), `data_tests:` and the legacy `tests:` key.
    """
    for test in [*(node.get("data_tests") or []), *(node.get("tests") or [])]:
        if isinstance(test, str):
            yield test, {}, {}
            continue
        if not isinstance(test, Mapping) or len(test) != 1:
            continue
        [(name, body)] = test.items()
        body = dict(body or {})
        config = dict(body.pop("config", None) or {})
        # properties dbt also accepts beside the arguments rather than under config
        for key in ("where", "severity", "enabled", "meta"):
            if key in body:
                config.setdefault(key, body.pop(key))
        args = dict(body.pop("arguments", None) or body)
        yield str(name), args, config


def _gates(config: Mapping[str, Any]) -> bool:
    """A test blocks dbt (and so publication) unless disabled or downgraded to a warning."""
    if config.get("enabled") is False:
        return False
    return str(config.get("severity", "error")).lower() != "warn"


def _key_columns(entry: DbtModelYml) -> set[str]:
    keys: set[str] = set()
    for test_name, args, _ in _tests(entry.model):
        keys.update(args.get(UNIQUE_COMBINATION_TESTS.get(test_name, "")) or [])
    for col in entry.columns:
        if any(name == "unique" for name, _, _ in _tests(col)):
            keys.add(col.get("name"))
    return keys


def _ref_name(to: Any, where: str) -> str:
    match = _REF_RE.match(str(to or ""))
    if not match:
        raise ValueError(f"{where}: relationships 'to' must be ref('<model or seed>'), got {to!r}")
    return match.group(1)


def _seed_values(path: Path, field: str, where: str) -> list[str]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        if field not in (reader.fieldnames or []):
            raise ValueError(f"{where}: seed {path.name} has no column {field!r}")
        return sorted({row[field] for row in reader if row[field] != ""})


def _row_condition(where: str, context: str) -> str:
    """A dbt `where` clause as a pandas query expression."""
    compare = _WHERE_COMPARE_RE.match(where)
    if compare:
        column, op, value = compare.groups()
        pandas_op = "==" if op == "=" else "!="
        return f"`{column}` {pandas_op} {_pandas_string(value)}"
    nullity = _WHERE_NULL_RE.match(where)
    if nullity:
        column, negated = nullity.groups()
        return f"`{column}`.{'notna' if negated else 'isna'}()"
    raise ValueError(
        f"{context}: cannot translate where {where!r} into a row condition; write it as "
        "<column> = '<text>', <column> <> '<text>' or <column> is [not] null"
    )


def _pandas_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _display(path: Path) -> str:
    try:
        return path.resolve().relative_to(DBT_PROJECT_DIR.parent).as_posix()
    except ValueError:
        return str(path)
