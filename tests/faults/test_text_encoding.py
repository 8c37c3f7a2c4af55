"""Holes 3 and 4 (issue 15): JSON text that is not valid Unicode, and JSONL that is not UTF-8.

3. A lone UTF-16 surrogate escape (`"\\ud800"`) in a WeCom message is valid JSON syntax but no valid
   Unicode text: the line is quarantined with its file, line and rule `invalid_unicode` (the rest of
   the file loads). It is not repaired: the raw layer keeps what the system sent, and the quarantined
   raw line keeps the exact escape for a re-delivery or a deliberate repair.
4. JSONL is UTF-8, with or without a BOM. Any other encoding (Big5, GBK) is a file error naming the
   file and the rule `encoding`, instead of being decoded as GBK and garbling every name.
"""

from __future__ import annotations

import json

import pytest

from tests.faults.landing import DAY, D, Tree, epoch_ms, jsonl

pytestmark = pytest.mark.fault("encodings")


@pytest.fixture
def tree(tmp_path) -> Tree:
    return Tree(tmp_path)


def _message(msgid: str, content: str) -> dict:
    return {
        "msgid": msgid,
        "action": "send",
        "from": "wmA",
        "tolist": ["staff_li"],
        "roomid": "",
        "msgtime": epoch_ms(DAY),
        "msgtype": "text",
        "text": {"content": content},
    }


def test_a_lone_surrogate_quarantines_the_line_with_file_line_and_rule(tree):
    lines = [
        json.dumps(_message("m1", "你好"), ensure_ascii=False),
        json.dumps(_message("m2", "a\ud800b")),  # json.dumps writes the lone surrogate as \ud800
        json.dumps(_message("m3", "好的 😀")),  # a valid surrogate pair written as escapes
    ]
    assert "\\ud800" in lines[1] and "\\ud83d\\ude00" in json.dumps(_message("x", "😀"))
    tree.write(f"wecom/{D}/messages.jsonl", "\n".join(lines) + "\n")

    result = tree.load("wecom", "messages")

    assert result.ok, result.errors
    assert result.rows_loaded == 2 and result.rows_quarantined == 1
    assert [r["msgid"] for r in tree.raw("wecom__messages")] == ["m1", "m3"]
    assert tree.raw("wecom__messages")[1]["content"] == "好的 😀"
    (q,) = tree.quarantined()
    assert q["source_file"] == f"wecom/{D}/messages.jsonl" and q["row_number"] == 2
    assert q["rule"] == "invalid_unicode"
    assert q["message"].startswith(f"wecom/{D}/messages.jsonl line 2: ")
    assert "text.content" in q["message"] and "(rule: invalid_unicode)" in q["message"]
    assert "\\ud800" in q["raw_record"]  # the line as received, escape intact
    rejected = tree.quarantine / "rows" / "wecom" / D / "messages.rejected.jsonl"
    assert json.loads(rejected.read_text(encoding="utf-8"))["rule"] == "invalid_unicode"


def test_a_lone_surrogate_in_a_fanned_out_contact_quarantines_its_line(tree):
    good = {
        "external_contact": {"external_userid": "wmA", "name": "张伟"},
        "follow_user": [{"userid": "s1", "createtime": 1785549600}],
    }
    bad = {
        "external_contact": {"external_userid": "wmB", "name": "x\udc00"},
        "follow_user": [
            {"userid": "s1", "createtime": 1785549600},
            {"userid": "s2", "createtime": 1785549600},
        ],
    }
    tree.write(
        f"wecom/{D}/external_contacts.jsonl", json.dumps(good) + "\n" + json.dumps(bad) + "\n"
    )
    result = tree.load("wecom", "external_contacts")
    assert result.ok and result.rows_loaded == 1
    assert [(q["row_number"], q["rule"]) for q in tree.quarantined()] == [(2, "invalid_unicode")]


def _contacts_text() -> str:
    return jsonl(
        [
            {
                "external_contact": {"external_userid": "wmA", "name": "張偉"},
                "follow_user": [{"userid": "s1", "remark": "臺北門市", "createtime": 1785549600}],
            }
        ]
    )


@pytest.mark.parametrize("encoding", ["big5", "gbk"])
def test_a_jsonl_not_in_utf8_is_a_file_error(tree, encoding):
    data = _contacts_text().encode(encoding)
    tree.write(f"wecom/{D}/external_contacts.jsonl", data)
    result = tree.load("wecom", "external_contacts")
    assert not result.ok
    (line,) = result.errors
    assert line.startswith(f"wecom/{D}/external_contacts.jsonl: ")
    assert "not UTF-8" in line and "(rule: encoding)" in line and "\n" not in line
    assert tree.raw("wecom__external_contacts") == []
    q = tree.quarantine / "files" / "wecom" / D
    assert (q / "external_contacts.jsonl").read_bytes() == data


def test_a_jsonl_in_utf8_with_a_bom_loads(tree):
    tree.write(f"wecom/{D}/external_contacts.jsonl", b"\xef\xbb\xbf" + _contacts_text().encode())
    result = tree.load("wecom", "external_contacts")
    assert result.ok and result.files[0]["encoding"] == "utf-8-sig"
    assert tree.raw("wecom__external_contacts")[0]["contact_name"] == "張偉"
