import pytest

from ingestion.entities import entity
from ingestion.reader import ExtractFileError, read_extract
from tests.fixtures.tiny_landing import MEMBERS_HEADER, ORDERS_HEADER

MEMBERS = entity("crm", "members")
ORDERS = entity("crm", "orders")
EVENTS = entity("miniprogram", "events")

ROW = "M1,张伟,+86 138-0013-8001,2026/5/1 9:00,门店,金卡会员,1985-03-12,上海,是,,"


def test_gbk_bom_and_utf8_decode_to_the_same_rows(tmp_path):
    text = MEMBERS_HEADER + "\n" + ROW + "\n"
    paths = {
        "gbk": text.encode("gbk"),
        "utf-8-sig": b"\xef\xbb\xbf" + text.encode("utf-8"),
        "utf-8": text.encode("utf-8"),
    }
    frames = {}
    for enc, data in paths.items():
        p = tmp_path / f"members_{enc}.csv"
        p.write_bytes(data)
        parsed = read_extract(p, MEMBERS)
        assert parsed.encoding == enc
        frames[enc] = parsed.rows
    for frame in frames.values():
        assert frame.loc[0, "member_name"] == "张伟"
        assert frame.loc[0, "city"] == "上海"
        # local times are rewritten to ISO so SQL can cast them
        assert frame.loc[0, "registered_at"] == "2026-05-01 09:00:00"


def test_undecodable_file_is_a_one_line_error(tmp_path):
    p = tmp_path / "members.csv"
    p.write_bytes(MEMBERS_HEADER.encode("utf-8") + b"\n\xff\xfe\xfa\xfb\x81\n")
    with pytest.raises(ExtractFileError) as exc:
        read_extract(p, MEMBERS, "crm/2026-05-01/members.csv")
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith("crm/2026-05-01/members.csv: cannot be decoded as UTF-8 or GBK")


def test_missing_required_column_names_file_and_column(tmp_path):
    p = tmp_path / "orders.csv"
    p.write_text(
        ORDERS_HEADER.replace("订单号,", "") + "\nM1,2026-05-01 09:00:00,1,0,否,已完成,店\n",
        encoding="utf-8",
    )
    with pytest.raises(ExtractFileError) as exc:
        read_extract(p, ORDERS, "crm/2026-05-01/orders.csv")
    msg = str(exc.value)
    assert "crm/2026-05-01/orders.csv" in msg and "missing required column 订单号" in msg
    assert "\n" not in msg


def test_truncated_csv_is_a_file_error(tmp_path):
    p = tmp_path / "orders.csv"
    good = "C1,M1,2026-05-01 09:30:00,199.00,20.00,是,已完成,上海旗舰店\n"
    p.write_text(ORDERS_HEADER + "\n" + good + 'C2,M1,2026-05-01 10:00:00,"19', encoding="utf-8")
    with pytest.raises(ExtractFileError) as exc:
        read_extract(p, ORDERS, "crm/2026-05-01/orders.csv")
    assert "truncated" in str(exc.value)


def test_truncated_csv_row_without_quote_is_a_file_error(tmp_path):
    p = tmp_path / "orders.csv"
    good = "C1,M1,2026-05-01 09:30:00,199.00,20.00,是,已完成,上海旗舰店\n"
    p.write_text(ORDERS_HEADER + "\n" + good + "C2,M1,2026-05-01 10:00", encoding="utf-8")
    with pytest.raises(ExtractFileError) as exc:
        read_extract(p, ORDERS, "crm/2026-05-01/orders.csv")
    assert "truncated at data row 2" in str(exc.value)


def test_truncated_jsonl_is_a_file_error(tmp_path):
    p = tmp_path / "events.jsonl"
    p.write_text(
        '{"event_id": "e1", "openid": "o1", "event_name": "share", "event_time": 1777600000000}\n'
        '{"event_id": "e2", "openid": "o1", "event_na',
        encoding="utf-8",
    )
    with pytest.raises(ExtractFileError) as exc:
        read_extract(p, EVENTS, "miniprogram/2026-05-01/events.jsonl")
    assert "truncated at line 2" in str(exc.value)


def test_bad_rows_are_rejected_with_row_and_rule_and_the_rest_loads(tmp_path):
    p = tmp_path / "orders.csv"
    p.write_text(
        "\n".join(
            [
                ORDERS_HEADER,
                "C1,M1,2026-05-01 09:30:00,199.00,20.00,是,已完成,店",
                "C2,M1,2026-05-01 09:31:00,abc,0,否,已完成,店",
                "C3,,2026-05-01 09:32:00,5,0,否,已完成,店",
                "C4,M1,yesterday,5,0,否,已完成,店",
                "C5,M1,2026-05-01 09:33:00,5,0,否,已完成",
                "C6,M1,2026-05-01 09:34:00,5,0,maybe,已完成,店",
            ]
        )
        + "\n",
        encoding="utf-8",
    )
    parsed = read_extract(p, ORDERS, "crm/x/orders.csv")
    assert parsed.rows["order_id"].tolist() == ["C1"]
    by_row = {r.row_number: r for r in parsed.rejects}
    assert set(by_row) == {2, 3, 4, 5, 6}
    assert (
        by_row[2].rule == "decimal"
        and "row 2" in by_row[2].message
        and "订单金额" in by_row[2].message
    )
    assert by_row[3].rule == "required" and "会员编号 is empty" in by_row[3].message
    assert by_row[4].rule == "local_timestamp"
    assert by_row[5].rule == "field_count"
    assert by_row[6].rule == "yes_no"


def test_jsonl_bad_line_is_rejected_and_others_load(tmp_path):
    p = tmp_path / "events.jsonl"
    p.write_text(
        '{"event_id": "e1", "openid": "o1", "event_name": "share", "event_time": 1777600000000, "properties": {"scenario": "ugc"}}\n'
        "{oops}\n"
        '{"event_id": "e3", "openid": "o1", "event_name": "share", "event_time": 17}\n',
        encoding="utf-8",
    )
    parsed = read_extract(p, EVENTS, "miniprogram/d/events.jsonl")
    assert parsed.rows["event_id"].tolist() == ["e1"]
    assert parsed.rows.loc[0, "scenario"] == "ugc"
    assert [(r.row_number, r.rule) for r in parsed.rejects] == [(2, "json"), (3, "epoch_ms")]


def test_arrow_fast_path_gives_the_same_rows_as_the_line_parser(tmp_path, monkeypatch):
    import ingestion.reader as reader

    messages = entity("wecom", "messages")
    lines = [
        '{"msgid": "m1", "action": "send", "from": "wmA", "tolist": ["s1", "s2"], "roomid": "", '
        '"msgtime": 1777600000123, "msgtype": "text", "text": {"content": "你好"}}',
        '{"msgid": "m2", "action": "send", "from": "s1", "tolist": [], "roomid": "wr1", '
        '"msgtime": 1777600000456, "msgtype": "image"}',
    ]
    p = tmp_path / "messages.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    fast = read_extract(p, messages)
    monkeypatch.setattr(reader, "_parse_jsonl_arrow", lambda *a: None)
    slow = read_extract(p, messages)
    assert fast.rows.fillna("<null>").equals(slow.rows.fillna("<null>"))
    assert fast.rows.loc[0, "tolist"] == "s1|s2" and fast.rows.loc[0, "content"] == "你好"
    assert fast.rows["_row_number"].tolist() == [1, 2]
