"""Hole 2 (issue 15): nothing that landed is lost with success.

* a 0-byte CSV is a file error (a CSV export has at least its header row); a 0-byte JSONL is the
  generator's "no rows that day" and loads as empty;
* a file whose name matches no extract, and a day folder not named YYYY-MM-DD, are reported as one
  warning each in `LoadResult.warnings`, naming the path, by exactly one extract's load;
* a CSV cut mid-row but ending in a newline (the last record has fewer fields than the header) is a
  truncated file: the whole file is rejected (rule: truncated), as a cut without a final newline is.
"""

from __future__ import annotations

import pytest

from ingestion.entities import ENTITIES
from tests.faults.landing import DAY, ORDERS_HEADER, D, Tree

pytestmark = pytest.mark.fault("silent loss")

ORDER_1 = f"C1,M1,{D} 09:30:00,199.00,20.00,是,已完成,上海旗舰店"
ORDER_2 = f"C2,M1,{D} 10:30:00,59.90,0,否,已完成,上海旗舰店"


@pytest.fixture
def tree(tmp_path) -> Tree:
    return Tree(tmp_path)


def _all_warnings(tree: Tree, source: str) -> list[str]:
    out = []
    for e in ENTITIES:
        if e.source == source:
            out += tree.load(source, e.name).warnings
    return out


def test_a_zero_byte_csv_is_a_file_error_and_quarantined(tree):
    tree.write(f"crm/{D}/orders.csv", b"")
    result = tree.load("crm", "orders")
    assert not result.ok
    assert len(result.errors) == 1
    line = result.errors[0]
    assert (
        line.startswith(f"crm/{D}/orders.csv: ") and "empty" in line and "rule: empty_file" in line
    )
    q = tree.quarantine / "files" / "crm" / D
    assert (q / "orders.csv").read_bytes() == b""
    assert (q / "orders.csv.reason.txt").read_text(encoding="utf-8").strip() == line


def test_a_whitespace_only_csv_is_a_file_error_too(tree):
    tree.write(f"crm/{D}/orders.csv", "\r\n\n")
    result = tree.load("crm", "orders")
    assert not result.ok and "empty" in result.errors[0]


def test_a_zero_byte_jsonl_still_loads_as_no_rows(tree):
    tree.write(f"miniprogram/{D}/orders.jsonl", b"")
    result = tree.load("miniprogram", "orders")
    assert result.ok and result.rows_loaded == 0 and result.warnings == []


@pytest.mark.parametrize("name", ["order.csv", "ordres.csv", "orders.CSV", "orders.xlsx"])
def test_a_file_matching_no_extract_is_one_warning(tree, name):
    tree.write(f"crm/{D}/orders.csv", ORDERS_HEADER + "\n" + ORDER_1 + "\n")
    tree.write(f"crm/{D}/{name}", ORDERS_HEADER + "\n" + ORDER_2 + "\n")
    result = tree.load("crm", "orders")
    assert result.ok and result.rows_loaded == 1
    warnings = _all_warnings(tree, "crm")
    assert len(warnings) == 1, warnings  # reported once, by the closest extract (orders)
    assert warnings[0].startswith(f"crm/{D}/{name}: ")
    assert "not loaded" in warnings[0] and "\n" not in warnings[0]
    assert any(w.startswith(f"crm/{D}/{name}: ") for w in result.warnings)


@pytest.mark.parametrize("folder", ["20260801", "2026-13-45", "2026-8-1"])
def test_a_day_folder_not_named_yyyy_mm_dd_is_a_warning(tree, folder):
    tree.write(f"crm/{D}/orders.csv", ORDERS_HEADER + "\n" + ORDER_1 + "\n")
    tree.write(f"crm/{folder}/orders.csv", ORDERS_HEADER + "\n" + ORDER_2 + "\n")
    result = tree.load("crm", "orders")
    assert result.ok and result.rows_loaded == 1
    assert [w for w in result.warnings if w.startswith(f"crm/{folder}/orders.csv: ")], (
        result.warnings
    )
    assert "YYYY-MM-DD" in result.warnings[0]
    assert len(_all_warnings(tree, "crm")) == 1


def test_a_file_beside_the_day_folders_is_a_warning(tree):
    tree.write(f"crm/{D}/orders.csv", ORDERS_HEADER + "\n" + ORDER_1 + "\n")
    tree.write("crm/orders.csv", ORDERS_HEADER + "\n" + ORDER_2 + "\n")
    warnings = _all_warnings(tree, "crm")
    assert len(warnings) == 1 and warnings[0].startswith("crm/orders.csv: ")


def test_warnings_are_in_the_load_log(tree):
    tree.write(f"crm/{D}/orders.csv", ORDERS_HEADER + "\n" + ORDER_1 + "\n")
    tree.write(f"crm/{D}/order.csv", ORDERS_HEADER + "\n" + ORDER_2 + "\n")
    tree.load("crm", "orders")
    log = tree.con.execute(
        "select source_file, status from raw._load_log order by source_file"
    ).fetchall()
    assert log == [(f"crm/{D}/order.csv", "ignored"), (f"crm/{D}/orders.csv", "loaded")]


@pytest.mark.parametrize(
    "tail",
    [
        f"C3,M1,{D} 11:00\n",  # cut mid-row, the cut row ends in a newline
        f"C3,M1,{D} 11:00\n\n\n",  # and blank lines after it
        f"C3,M1,{D} 11:00\r\n",
    ],
)
def test_a_csv_cut_mid_row_but_ending_in_a_newline_is_truncated(tree, tail):
    tree.write(f"crm/{D}/orders.csv", ORDERS_HEADER + "\n" + ORDER_1 + "\n" + ORDER_2 + "\n" + tail)
    result = tree.load("crm", "orders")
    assert not result.ok
    line = result.errors[0]
    assert line.startswith(f"crm/{D}/orders.csv: truncated at data row 3")
    assert "rule: truncated" in line
    assert (tree.quarantine / "files" / "crm" / D / "orders.csv").exists()
    assert tree.raw("crm__orders") == []


def test_a_short_row_in_the_middle_is_still_a_rejected_row(tree):
    tree.write(
        f"crm/{D}/orders.csv",
        ORDERS_HEADER + "\n" + ORDER_1 + "\n" + f"C3,M1,{D} 11:00\n" + ORDER_2 + "\n",
    )
    result = tree.load("crm", "orders")
    assert result.ok and result.rows_loaded == 2
    assert [(q["row_number"], q["rule"]) for q in tree.quarantined()] == [(2, "field_count")]


def test_an_unterminated_quote_ending_in_a_newline_is_truncated(tree):
    tree.write(
        f"crm/{D}/feedback.csv",
        "反馈编号,会员编号,反馈时间,评分,反馈内容\n"
        f'F1,M1,{D} 09:00:00,5,"很好"\n'
        f'F2,M1,{D} 09:10:00,4,"包装,\n',
    )
    result = tree.load("crm", "feedback")
    assert not result.ok and "truncated" in result.errors[0]
    assert result.errors[0].startswith(f"crm/{D}/feedback.csv: ")
    assert DAY.isoformat() in result.errors[0]
