"""Every published table has a suite, and suites name only published columns: the data contract's
tables (its columns fixed), and the tables the README publishes beyond it (their columns the
mart's enforced dbt contract)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from data_quality.dbt_yml import find_model_yml
from data_quality.runner import expectation_columns, list_suites, load_suite

CONTRACT = Path(__file__).resolve().parents[2] / ".." / "shared" / "DATA_CONTRACT.md"
README = Path(__file__).resolve().parents[2] / "README.md"
BEYOND_CONTRACT = "### Published beyond the data contract"

# Grain words that name an entity rather than a column.
GRAIN_KEYS = {"person": "person_id", "experiment": "experiment_id"}


def _cell_columns(cell: str) -> set[str]:
    """Column names in a 'key columns and meaning' cell: the leading word of each list item."""
    text = cell.replace("`", "")
    while re.search(r"\([^()]*\)", text):  # explanations in parentheses, innermost first
        text = re.sub(r"\([^()]*\)", "", text)
    text = re.split(r"[;:]", text)[0]
    names = set()
    for item in re.split(r",| and ", text):
        for piece in item.split("/"):
            words = piece.split()
            if words and re.fullmatch(r"[a-z_][a-z0-9_]*", words[0]):
                names.add(words[0])
    return names


def contract_tables() -> dict[str, set[str]]:
    """{table: columns} from the 'Published tables' section of the data contract."""
    text = CONTRACT.read_text(encoding="utf-8")
    return _tables(text.split("## Published tables", 1)[1].split("\n## ", 1)[0])


def published_tables() -> dict[str, set[str]]:
    """The contract's tables and the README's tables published beyond it."""
    text = README.read_text(encoding="utf-8")
    beyond = _tables(text.split(BEYOND_CONTRACT, 1)[1].split("\n#", 1)[0])
    assert not set(beyond) & set(contract_tables()), "a contract table listed again in README"
    return contract_tables() | beyond


def _tables(section: str) -> dict[str, set[str]]:
    """{table: columns} of the `| table | grain | key columns and meaning |` rows of a section."""
    tables = {}
    for line in section.splitlines():
        m = re.match(r"\|\s*`(\w+)`\s*\|(.*)\|(.*)\|\s*$", line)
        if not m:
            continue
        table, grain, cell = m.group(1), m.group(2), m.group(3)
        # "one row per person" grains name their key among the columns already.
        grain_words = [] if "one row per" in grain else grain.split(" x ")
        keys = {GRAIN_KEYS.get(w.strip(), w.strip()) for w in grain_words}
        tables[table] = keys | _cell_columns(cell)
    return tables


def test_contract_parses():
    tables = contract_tables()
    assert len(tables) == 15
    assert {"person_id", "churn_probability", "risk_decile", "model_version", "scored_at"} == (
        tables["user_churn_scores"]
    )
    assert {"over_touch_3d_share", "over_touch_7d_share", "sla_2h_breach_rate"} <= (
        tables["engagement_daily"]
    )
    assert {"r_score", "f_score", "m_score", "as_of_date"} <= tables["user_rfm"]


def published_beyond_contract() -> set[str]:
    """Tables of the README's 'Published tables' section that the data contract does not list
    (the contract is read-only here; new tables are published and documented in the README)."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Published tables", 1)[1].split("\n## ", 1)[0]
    named = set()
    for line in section.splitlines():
        m = re.match(r"\|\s*(`\w+`(?:,\s*`\w+`)*)\s*\|", line)
        if m:
            named |= set(re.findall(r"`(\w+)`", m.group(1)))
    return named - set(contract_tables())


def test_every_published_table_has_a_suite():
    assert sorted(set(contract_tables()) | published_beyond_contract()) == list_suites()


@pytest.mark.parametrize("table", sorted(published_beyond_contract()))
def test_suite_beyond_the_contract_checks_the_mart_columns(table):
    """A table published beyond the contract: its suite's column set is every column of the
    mart's enforced dbt contract, and the suite names no other column."""
    model = find_model_yml(table)
    assert (model.config.get("contract") or {}).get("enforced") is True, model.path
    columns = {c["name"] for c in model.columns}
    suite = load_suite(table)
    column_sets = [
        exp["kwargs"]["column_set"]
        for exp in suite.expectations
        if exp["type"] == "expect_table_columns_to_match_set"
    ]
    assert len(column_sets) == 1 and set(column_sets[0]) == columns
    named = {c for exp in suite.expectations for c in expectation_columns(exp)}
    assert named <= columns, f"{suite.path} names columns {sorted(named - columns)} the mart lacks"


@pytest.mark.parametrize("table", sorted(published_tables()))
def test_suite_names_only_contract_columns(table):
    allowed = published_tables()[table]
    suite = load_suite(table)
    named = {c for exp in suite.expectations for c in expectation_columns(exp)}
    assert named <= allowed, f"{suite.path} names non-contract columns {sorted(named - allowed)}"


@pytest.mark.parametrize("table", sorted(published_tables()))
def test_suite_checks_the_contract_column_set(table):
    suite = load_suite(table)
    column_sets = [
        exp["kwargs"]["column_set"]
        for exp in suite.expectations
        if exp["type"] == "expect_table_columns_to_match_set"
    ]
    assert len(column_sets) == 1
    assert suite.expectations[0]["kwargs"].get("exact_match") is False  # extra columns allowed
    # "share by channel" in engagement_daily names no column; every other word is one.
    expected = published_tables()[table] - {"share"}
    assert set(column_sets[0]) == expected
