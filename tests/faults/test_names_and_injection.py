"""Names and values that are code somewhere else (issue 15's catalogue): shell and SQL
metacharacters and control characters in landed file names, SQL and Jinja in extract fields, SQL
in settings, quotes in data paths.

No name or value is ever passed to a shell or spliced into SQL or a template: a file named
`orders $(touch pwned).csv` loads as an orders extract under that name, a store called
`x'); drop table ...` is a store name in the marts, and a setting that is not what it should be
is refused in one line before anything runs.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import pytest

from ingestion.entities import ENTITIES
from ingestion.loader import ensure_raw_tables
from orchestration.lib.settings import Settings, SettingsError
from publishing import publish
from tests.dbt.test_measurement_marts import run_dbt
from tests.faults.landing import DAY, MEMBERS_HEADER, ORDERS_HEADER, D, Tree
from tests.publishing.conftest import write_build_db

pytestmark = pytest.mark.slow

ORDER = f"C1,M1,{D} 09:30:00,199.00,20.00,是,已完成,上海旗舰店"
BAD_ORDER = f"C2,M1,{D} 10:30:00,-5,0,否,已完成,上海旗舰店"  # a negative amount: quarantined


@pytest.fixture
def tree(tmp_path) -> Tree:
    return Tree(tmp_path)


@pytest.mark.fault("file names")
@pytest.mark.parametrize(
    "name",
    [
        "orders $(touch pwned).csv",
        "orders `touch pwned`.csv",
        "orders ; rm -rf pwned.csv",
        "orders '; drop table raw.crm__orders; --.csv",
        'orders ".csv',
        "orders {{ 7 * 7 }} %s %n.csv",
        "orders *?[a].csv",
        "orders_$HOME.csv",
        "orders 订单 (1).csv",
    ],
)
def test_a_file_name_with_metacharacters_loads_under_its_own_name(tree, name, monkeypatch):
    monkeypatch.chdir(tree.tmp)
    tree.write(f"crm/{D}/{name}", f"{ORDERS_HEADER}\n{ORDER}\n{BAD_ORDER}\n")
    result = tree.load("crm", "orders")
    assert result.ok and result.rows_loaded == 1 and result.rows_quarantined == 1
    label = f"crm/{D}/{name}"
    assert [r["_source_file"] for r in tree.raw("crm__orders")] == [label]
    (q,) = tree.quarantined()
    assert q["source_file"] == label and q["message"].startswith(f"{label} row 2: ")
    assert not any(p.name == "pwned" for p in tree.tmp.rglob("*"))
    assert tree.con.execute("select count(*) from raw.crm__orders").fetchone()[0] == 1


@pytest.mark.fault("file names")
def test_a_metacharacter_right_after_the_extract_name_is_a_warning_not_a_load(tree):
    # `orders;x.csv` is no orders file by the naming rule (datagen/FORMATS.md): reported, kept.
    tree.write(f"crm/{D}/orders;x.csv", f"{ORDERS_HEADER}\n{ORDER}\n")
    result = tree.load("crm", "orders")
    assert result.ok and result.rows_loaded == 0
    assert [w.split(": ", 1)[0] for w in result.warnings] == [f"crm/{D}/orders;x.csv"]


@pytest.mark.fault("file names")
@pytest.mark.parametrize("control", ["\n", "\r", "\t", "\x1b[31m"])
def test_a_control_character_in_a_file_name_never_breaks_a_message_line(tree, control):
    tree.write(f"crm/{D}/orders.csv", f"{ORDERS_HEADER}\n{ORDER}\n")
    tree.write(f"crm/{D}/orders{control}x.csv", f"{ORDERS_HEADER}\n{ORDER}\n")
    result = tree.load("crm", "orders")
    lines = result.errors + result.warnings
    for row in tree.raw("crm__orders"):
        lines.append(row["_source_file"])
    assert lines and all(not any(c in line for c in "\n\r\t\x1b") for line in lines), lines
    assert any(f"\\x{ord(control[0]):02x}" in line for line in lines), lines


@pytest.mark.fault("SQL in fields and settings")
def test_sql_and_jinja_in_fields_reach_the_marts_as_text(tree):
    """Through the real loader and a real dbt build of the core marts."""
    cities = ["x'); drop table raw.crm__members; --", "{{ 7 * 7 }}", "{% raw %}", "$1 ?"]
    rows = [
        f'M{i},名{i},1380013800{i},{D} 09:0{i}:00,门店,普通会员,,"{city}",是,,{D} 09:0{i}:00'
        for i, city in enumerate(cities)
    ]
    tree.write(f"crm/{D}/members.csv", "\n".join([MEMBERS_HEADER, *rows]) + "\n")
    assert tree.load("crm", "members").rows_loaded == len(cities)
    for e in ENTITIES:  # the other extracts landed nothing: their raw tables are empty
        ensure_raw_tables(tree.con, e)
    tree.con.close()  # dbt is the one writer of the build database while it runs
    window = f'{{"min_date": "{DAY}", "max_date": "{DAY + dt.timedelta(days=1)}"}}'
    run_dbt(
        tree.tmp / "warehouse.duckdb", tree.tmp / "target", ["+dim_users"], window,
        extra_args=("--indirect-selection", "cautious"),
    )  # fmt: skip
    with duckdb.connect(str(tree.tmp / "warehouse.duckdb"), read_only=True) as con:
        published = {r[0] for r in con.execute("select city from marts.dim_users").fetchall()}
        assert con.execute("select count(*) from raw.crm__members").fetchone()[0] == len(cities)
    assert published == set(cities)
    tree.con = duckdb.connect(str(tree.tmp / "warehouse.duckdb"))


@pytest.mark.fault("SQL in fields and settings")
@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SIYU_START_DATE", "2026-05-01'; drop table raw.crm__orders; --"),
        ("SIYU_IDENTITY_JUNK_MAX_ACCOUNTS", "5; drop table raw.crm__orders"),
        ("SIYU_DBT_THREADS", "2 or 1=1"),
        ("SIYU_PUBLISH_KEEP_VERSIONS", "{{ 7 * 7 }}"),
        ("SIYU_SOURCES", "crm,wecom'); drop"),
        ("SIYU_ENVIRONMENT", "production'--"),
        ("SIYU_PG_READERS", "bi; drop role postgres"),
    ],
)
def test_sql_in_a_setting_is_refused_in_one_line(tmp_path, variable, value):
    with pytest.raises(SettingsError) as refused:
        Settings.from_env({"SIYU_DATA_DIR": str(tmp_path), variable: value})
    message = str(refused.value)
    assert message.startswith(variable) and "\n" not in message


@pytest.mark.fault("SQL in fields and settings")
def test_quotes_and_semicolons_in_data_paths_publish(tmp_path):
    root = tmp_path / "brand'; drop table marts.a; --"
    root.mkdir()
    build = root / "warehouse'.duckdb"
    write_build_db(build, generation=1, rows=50)
    manifest = publish(
        build, ["a", "b"], serving_path=root / "serving.duckdb", published_dir=root / "published",
        run_id="r1", check_summary={"passed": True},
    )  # fmt: skip
    assert manifest.row_counts == {"a": 51, "b": 101}
    with duckdb.connect(str(root / "serving.duckdb"), read_only=True) as con:
        assert con.execute("select count(*) from marts.a").fetchone()[0] == 51
