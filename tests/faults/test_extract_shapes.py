"""Extracts that are well formed but not shaped as the contract says (issue 15's catalogue):
columns missing, extra or reordered, header-only files, the same file delivered twice, CRLF line
ends, long strings, NUL and emoji, malformed JSON lines, epoch values in the wrong unit.

Each loads what it can; a row that cannot load goes to the quarantine with file, row and rule; a
header difference that changes what loads is one warning naming the file. The autouse ledger
(tests/faults/conftest.py) checks every landed record is loaded or quarantined.
"""

from __future__ import annotations

import json

import pytest

from ingestion.validation import MAX_TEXT_CHARS
from tests.faults.landing import DAY, ORDERS_HEADER, D, Tree, epoch_ms, epoch_s, jsonl, rows_lost

ORDER_1 = f"C1,M1,{D} 09:30:00,199.00,20.00,是,已完成,上海旗舰店"
ORDER_2 = f"C2,M1,{D} 10:30:00,59.90,0,否,已完成,上海旗舰店"
HEADER = ORDERS_HEADER.split(",")
MP_ORDER = {
    "order_id": "W1",
    "openid": "oA",
    "created_at": epoch_ms(DAY),
    "total_fee": 12900,
    "discount_fee": 0,
    "coupon_id": None,
    "status": "paid",
}


@pytest.fixture
def tree(tmp_path) -> Tree:
    return Tree(tmp_path)


def _orders(tree: Tree, body: str, name: str = "orders.csv"):
    tree.write(f"crm/{D}/{name}", body)
    return tree.load("crm", "orders")


def _rules(tree: Tree) -> list[str]:
    return [q["rule"] for q in tree.quarantined()]


@pytest.mark.fault("columns")
def test_reordered_columns_load_by_header_name(tree):
    order = [7, 0, 3, 1, 6, 2, 5, 4]
    header = ",".join(HEADER[i] for i in order)
    row = ",".join(ORDER_1.split(",")[i] for i in order)
    result = _orders(tree, f"{header}\n{row}\n")
    assert result.ok and result.warnings == []
    (raw,) = tree.raw("crm__orders")
    assert (raw["order_id"], raw["amount_cny"], raw["store_name"]) == ("C1", "199.00", "上海旗舰店")


@pytest.mark.fault("columns")
def test_an_extra_column_loads_the_rest_and_is_one_warning(tree):
    result = _orders(tree, f"{ORDERS_HEADER},备注\n{ORDER_1},第一单\n")
    assert result.ok and result.rows_loaded == 1
    assert result.warnings == [
        f"crm/{D}/orders.csv: column 备注 is not in the crm orders contract (datagen/FORMATS.md); "
        "not loaded (rule: extra_column)"
    ]


@pytest.mark.fault("columns")
def test_a_missing_optional_column_loads_as_empty_with_a_warning(tree):
    header = ",".join(HEADER[:-1])  # no 门店 (store)
    row = ",".join(ORDER_1.split(",")[:-1])
    result = _orders(tree, f"{header}\n{row}\n")
    assert result.ok and result.rows_loaded == 1
    assert tree.raw("crm__orders")[0]["store_name"] is None
    assert len(result.warnings) == 1 and "门店" in result.warnings[0]
    assert "rule: missing_column" in result.warnings[0]


@pytest.mark.fault("columns")
def test_a_missing_required_column_fails_the_file_and_keeps_it(tree):
    header = ",".join(h for h in HEADER if h != "订单号")
    row = ",".join(v for h, v in zip(HEADER, ORDER_1.split(","), strict=True) if h != "订单号")
    result = _orders(tree, f"{header}\n{row}\n")
    assert not result.ok and "订单号" in result.errors[0]
    assert "rule: required_columns" in result.errors[0]
    assert (tree.quarantine / "files" / "crm" / D / "orders.csv").exists()


@pytest.mark.fault("empty and header-only files")
def test_a_header_only_csv_is_a_day_without_rows(tree):
    result = _orders(tree, ORDERS_HEADER + "\n")
    assert result.ok and result.rows_loaded == 0 and result.rows_quarantined == 0
    assert result.warnings == []


@pytest.mark.fault("empty and header-only files")
def test_a_header_only_jsonl_line_of_spaces_is_a_day_without_rows(tree):
    tree.write(f"miniprogram/{D}/orders.jsonl", "\n   \n")
    result = tree.load("miniprogram", "orders")
    assert result.ok and result.rows_loaded == 0


@pytest.mark.fault("duplicate delivery")
def test_the_same_file_delivered_twice_loads_both_copies_with_their_lineage(tree):
    # Staging keeps one row per order_id (tests/dbt); the raw layer keeps what landed, by file.
    tree.write(f"crm/{D}/orders.csv", f"{ORDERS_HEADER}\n{ORDER_1}\n")
    result = _orders(tree, f"{ORDERS_HEADER}\n{ORDER_1}\n", name="orders (1).csv")
    assert result.ok and result.rows_loaded == 2
    assert sorted(r["_source_file"] for r in tree.raw("crm__orders")) == [
        f"crm/{D}/orders (1).csv",
        f"crm/{D}/orders.csv",
    ]


@pytest.mark.fault("duplicate delivery")
def test_loading_a_day_again_replaces_it(tree):
    _orders(tree, f"{ORDERS_HEADER}\n{ORDER_1}\n{ORDER_2}\n")
    again = tree.load("crm", "orders")
    assert again.rows_loaded == 2 and len(tree.raw("crm__orders")) == 2


@pytest.mark.fault("line ends")
def test_crlf_line_ends_load_like_lf(tree):
    result = _orders(tree, f"{ORDERS_HEADER}\r\n{ORDER_1}\r\n{ORDER_2}\r\n")
    assert result.ok and result.rows_loaded == 2
    assert {r["store_name"] for r in tree.raw("crm__orders")} == {"上海旗舰店"}


@pytest.mark.fault("long strings")
def test_a_field_over_the_text_limit_is_a_rejected_row_not_a_truncated_file(tree):
    # Before: the csv module's 128 KiB field limit failed the whole file as "truncated".
    long_store = "店" * 200_000
    result = _orders(
        tree, f"{ORDERS_HEADER}\n{ORDER_1.replace('上海旗舰店', long_store)}\n{ORDER_2}\n"
    )
    assert result.ok and result.rows_loaded == 1 and result.rows_quarantined == 1
    (q,) = tree.quarantined()
    assert q["rule"] == "too_long" and q["row_number"] == 1
    assert f"longer than {MAX_TEXT_CHARS:,} characters" in q["message"]


@pytest.mark.fault("long strings")
def test_a_field_at_the_text_limit_loads_whole(tree):
    store = "店" * MAX_TEXT_CHARS
    result = _orders(tree, f"{ORDERS_HEADER}\n{ORDER_1.replace('上海旗舰店', store)}\n")
    assert result.ok and result.rows_loaded == 1
    assert tree.raw("crm__orders")[0]["store_name"] == store


@pytest.mark.fault("long strings")
def test_a_multi_megabyte_json_value_is_a_rejected_row(tree):
    tree.write(
        f"miniprogram/{D}/orders.jsonl",
        jsonl([{**MP_ORDER, "coupon_id": "c" * 5_000_000}, {**MP_ORDER, "order_id": "W2"}]),
    )
    result = tree.load("miniprogram", "orders")
    assert result.rows_loaded == 1 and _rules(tree) == ["too_long"]


@pytest.mark.fault("NUL and emoji")
def test_a_nul_in_a_csv_field_is_a_rejected_row(tree):
    with_nul = ORDER_1.replace("上海旗舰店", "上海\x00店")
    result = _orders(tree, f"{ORDERS_HEADER}\n{with_nul}\n{ORDER_2}\n")
    assert result.rows_loaded == 1 and _rules(tree) == ["nul_character"]
    assert tree.raw("crm__orders")[0]["order_id"] == "C2"


@pytest.mark.fault("NUL and emoji")
def test_a_nul_escape_in_json_is_a_rejected_row(tree):
    tree.write(f"miniprogram/{D}/orders.jsonl", jsonl([{**MP_ORDER, "coupon_id": "cp\u0000x"}]))
    result = tree.load("miniprogram", "orders")
    assert result.rows_loaded == 0 and _rules(tree) == ["nul_character"]


@pytest.mark.fault("NUL and emoji")
def test_emoji_and_combining_marks_load_unchanged(tree):
    store = "上海🏬旗舰店👍🏽 e\u0301"
    row = ORDER_1.replace("上海旗舰店", store)
    result = _orders(tree, f"{ORDERS_HEADER}\n{row}\n")
    assert result.ok and tree.raw("crm__orders")[0]["store_name"] == store


@pytest.mark.fault("malformed JSON")
@pytest.mark.parametrize(
    ("bad_line", "rule"),
    [
        ('{"order_id": "W3", "openid": ', "json"),
        ("[1, 2]", "json"),
        ('"just a string"', "json"),
        (json.dumps({**MP_ORDER, "order_id": "W3", "total_fee": {"a": 1}}), "int"),
        (json.dumps({k: v for k, v in MP_ORDER.items() if k != "openid"}), "required"),
    ],
)
def test_a_malformed_json_line_is_one_rejected_row(tree, bad_line, rule):
    good = jsonl([MP_ORDER])
    tree.write(f"miniprogram/{D}/orders.jsonl", good + bad_line + "\n" + good.replace("W1", "W2"))
    result = tree.load("miniprogram", "orders")
    assert result.ok and result.rows_loaded == 2
    (q,) = tree.quarantined()
    assert q["rule"] == rule and q["row_number"] == 2
    assert q["message"].startswith(f"miniprogram/{D}/orders.jsonl ")


@pytest.mark.fault("malformed JSON")
def test_an_unknown_json_key_is_ignored_and_the_row_loads(tree):
    tree.write(f"miniprogram/{D}/orders.jsonl", jsonl([{**MP_ORDER, "new_field": {"x": 1}}]))
    result = tree.load("miniprogram", "orders")
    assert result.ok and result.rows_loaded == 1


@pytest.mark.fault("epoch units")
@pytest.mark.parametrize(
    "created_at",
    [epoch_s(DAY), epoch_ms(DAY) * 1000, -1, 1.5e12 + 0.5],
    ids=["seconds", "microseconds", "negative", "fraction"],
)
def test_an_epoch_in_the_wrong_unit_is_a_rejected_row(tree, created_at):
    tree.write(
        f"miniprogram/{D}/orders.jsonl",
        jsonl([{**MP_ORDER, "created_at": created_at}, {**MP_ORDER, "order_id": "W2"}]),
    )
    result = tree.load("miniprogram", "orders")
    assert result.rows_loaded == 1 and _rules(tree) == ["epoch_ms"]
    assert "created_at is not epoch milliseconds" in tree.quarantined()[0]["message"]


@pytest.mark.fault("epoch units")
def test_wecom_seconds_in_milliseconds_are_rejected(tree):
    send = {
        "campaign_id": "cmp_0001",
        "external_userid": "wmA",
        "sender": "staff_li",
        "chat_type": "single",
        "sent_at": epoch_ms(DAY),  # milliseconds where WeCom sends seconds
        "scenario": "birthday",
        "content_type": "coupon",
        "experiment_id": None,
        "variant": None,
        "status": "sent",
    }
    tree.write(f"wecom/{D}/campaign_sends.jsonl", jsonl([send]))
    result = tree.load("wecom", "campaign_sends")
    assert result.rows_loaded == 0 and _rules(tree) == ["epoch_s"]


def test_the_ledger_counts_a_row_that_went_nowhere(tree):
    """The autouse ledger can fail: a landed row deleted from the raw layer is one row lost."""
    result = _orders(tree, f"{ORDERS_HEADER}\n{ORDER_1}\n{ORDER_2}\n")
    assert rows_lost(tree, result) == 0
    tree.con.execute("delete from raw.crm__orders where order_id = 'C2'")
    assert rows_lost(tree, result) == 1
    tree.lost = 0  # the deletion above is this test's own doing
