"""Hole 1 (issue 15): a symlink or other non-regular file in the landing tree is never read.

Only regular files inside the landing root are read. A link (wherever it points), a FIFO or a folder
named like an extract is refused with one line naming its landing path (never the content of what
it points to); the quarantine gets a `.reason.txt` only, never a copy.
"""

from __future__ import annotations

import os

import pytest

from tests.faults.landing import DAY, ORDERS_HEADER, D, Tree

pytestmark = pytest.mark.fault("links and special files")

SECRET = "root:x:0:0:SECRET-CONTENT:/root:/bin/bash\n"
GOOD_ORDER = f"C1,M1,{D} 09:30:00,199.00,20.00,是,已完成,上海旗舰店"


@pytest.fixture
def tree(tmp_path) -> Tree:
    return Tree(tmp_path)


def _secret(tree: Tree):
    """A readable file outside the landing root, like /etc/passwd (mode 0644)."""
    outside = tree.tmp / "outside" / "passwd"
    outside.parent.mkdir()
    outside.write_text(SECRET, encoding="utf-8")
    outside.chmod(0o644)
    return outside


def _assert_never_leaked(tree: Tree, result) -> None:
    for line in result.errors + result.warnings:
        assert "SECRET" not in line and "\n" not in line
    for rel, data in tree.quarantine_files().items():
        assert b"SECRET" not in data, rel


def test_a_symlink_to_a_file_outside_the_landing_root_is_refused_not_read(tree):
    tree.write(
        f"crm/{D}/members.csv", "会员编号,姓名,手机号,注册时间\nM1,张伟,1,2026-08-01 09:00:00\n"
    )
    os.symlink(_secret(tree), tree.path(f"crm/{D}/orders.csv"))

    result = tree.load("crm", "orders")

    assert not result.ok
    assert len(result.errors) == 1
    line = result.errors[0]
    assert line.startswith(f"crm/{D}/orders.csv: ")
    assert "symbolic link" in line and "rule: regular_file" in line
    _assert_never_leaked(tree, result)
    q = tree.quarantine / "files" / "crm" / D
    assert not (q / "orders.csv").exists() and not (q / "orders.csv").is_symlink()
    assert (q / "orders.csv.reason.txt").read_text(encoding="utf-8").strip() == line
    assert tree.raw("crm__orders") == []
    # the other extracts of the day still load
    assert tree.load("crm", "members").ok


def test_a_symlink_inside_the_landing_root_is_refused_too(tree):
    earlier = tree.write("crm/2026-07-31/orders.csv", ORDERS_HEADER + "\n" + GOOD_ORDER + "\n")
    (tree.landing / "crm" / D).mkdir()
    os.symlink(earlier, tree.path(f"crm/{D}/orders_resend.csv"))
    result = tree.load("crm", "orders")
    assert not result.ok
    assert result.errors == [
        line for line in result.errors if line.startswith(f"crm/{D}/orders_resend.csv: ")
    ]
    assert not (tree.quarantine / "files" / "crm" / D / "orders_resend.csv").exists()


def test_a_symlinked_day_folder_is_refused(tree):
    outside = tree.tmp / "elsewhere"
    outside.mkdir()
    (outside / "orders.csv").write_text(ORDERS_HEADER + "\n" + GOOD_ORDER + "\n", encoding="utf-8")
    (tree.landing / "crm").mkdir()
    os.symlink(outside, tree.path(f"crm/{D}"))
    result = tree.load("crm", "orders")
    assert not result.ok
    assert len(result.errors) == 1 and result.errors[0].startswith(f"crm/{D}: ")
    assert "symbolic link" in result.errors[0]
    assert tree.raw("crm__orders") == []
    assert not any(rel.endswith("orders.csv") for rel in tree.quarantine_files())


def test_a_fifo_named_like_an_extract_is_refused_without_blocking(tree):
    (tree.landing / "crm" / D).mkdir(parents=True)
    os.mkfifo(tree.path(f"crm/{D}/orders.csv"))
    result = tree.load("crm", "orders")
    assert not result.ok
    assert len(result.errors) == 1
    assert (
        result.errors[0].startswith(f"crm/{D}/orders.csv: ")
        and "not a regular file" in result.errors[0]
    )
    assert list(tree.quarantine_files()) == [f"files/crm/{D}/orders.csv.reason.txt"]


def test_a_folder_named_like_an_extract_is_refused(tree):
    tree.path(f"crm/{D}/orders.csv").mkdir(parents=True)
    result = tree.load("crm", "orders")
    assert not result.ok
    assert result.errors[0].startswith(f"crm/{D}/orders.csv: ") and "folder" in result.errors[0]


def test_a_regular_quarantined_file_is_copied_from_the_bytes_read(tree):
    """A file that fails is quarantined as the bytes the loader read (never re-opened by name)."""
    bad = tree.write(f"crm/{D}/orders.csv", ORDERS_HEADER + "\n" + GOOD_ORDER + "\nC2,M1,20")
    result = tree.load("crm", "orders")
    assert not result.ok
    copy = tree.quarantine / "files" / "crm" / D / "orders.csv"
    assert copy.read_bytes() == bad.read_bytes() and not copy.is_symlink()
    assert DAY.isoformat() in result.errors[0]


def test_the_quarantine_is_owner_only_and_never_writes_through_a_link(tree):
    """Quarantined files hold raw personal data: 0600 files in 0700 folders (not 0644 copies), and a
    link planted at a quarantine path is not written through."""
    tree.write(f"crm/{D}/orders.csv", ORDERS_HEADER + "\n" + GOOD_ORDER + "\nC2,M1,20")
    victim = _secret(tree)
    target = tree.quarantine / "files" / "crm" / D / "orders.csv.reason.txt"
    target.parent.mkdir(parents=True)
    os.symlink(victim, target)
    result = tree.load("crm", "orders")
    assert not result.ok
    assert victim.read_text(encoding="utf-8") == SECRET
    tree.write(
        f"crm/{D}/orders.csv", ORDERS_HEADER + "\n" + GOOD_ORDER + "\nC2,M1,x,1,0,否,已完成,店\n"
    )
    assert tree.load("crm", "orders").rows_quarantined == 1
    files = [p for p in tree.quarantine.rglob("*") if p.is_file() and not p.is_symlink()]
    folders = [tree.quarantine, *(p for p in tree.quarantine.rglob("*") if p.is_dir())]
    assert any("rows" in p.parts for p in files) and any("files" in p.parts for p in files)
    assert {str(p): oct(p.stat().st_mode & 0o777) for p in files} == {
        str(p): oct(0o600) for p in files
    }
    assert {str(p): oct(p.stat().st_mode & 0o777) for p in folders} == {
        str(p): oct(0o700) for p in folders
    }
