"""The Dagster code location is wiring only: no SQL in any module of orchestration/.

Queries live in the libraries (warehouse/, reporting/, publishing/, privacy/, data_quality/,
ingestion/) where they are tested on a real DuckDB; an asset calls one of them. This test parses
every .py under orchestration/ with `ast` and fails on any string constant (f-string parts
included) that reads as SQL, naming the file and line.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ORCHESTRATION = Path(__file__).parents[2] / "orchestration"

# a statement keyword followed, later in the same string, by the word SQL puts after it: the
# shape of a query, not of prose ("select the rows from..." in a docstring is rare, and a
# docstring is skipped anyway)
SQL = re.compile(
    r"\b(select|insert|create|delete|update|drop|alter)\b[\s\S]*?"
    r"\b(from|into|table|schema|set|view)\b",
    re.IGNORECASE,
)
# statements that are SQL on their own
SQL_ALONE = re.compile(
    r"^\s*(checkpoint|vacuum|begin transaction|commit|rollback)\s*;?\s*$", re.IGNORECASE
)


def _docstrings(tree: ast.AST) -> set[int]:
    """ids of the docstring constants (module, class, function): prose, not SQL."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def _strings(tree: ast.AST) -> list[tuple[int, str]]:
    """(line, text) of every string constant; an f-string counts as its literal parts joined,
    and adjacent literals are already one constant."""
    skip = _docstrings(tree)
    out = []
    inside_fstring = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            parts = [v.value for v in node.values if isinstance(v, ast.Constant)]
            inside_fstring |= {id(v) for v in node.values}
            out.append((node.lineno, " {} ".join(str(p) for p in parts)))
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Constant)
            and isinstance(node.value, str)
            and id(node) not in skip
            and id(node) not in inside_fstring
        ):
            out.append((node.lineno, node.value))
    return out


def looks_like_sql(text: str) -> bool:
    return bool(SQL.search(text) or SQL_ALONE.match(text))


def sql_strings(path: Path) -> list[str]:
    """`file:line: text` for every string of `path` that reads as SQL."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    relative = path.relative_to(ORCHESTRATION.parent)
    return [
        f"{relative}:{line}: {' '.join(text.split())[:100]}"
        for line, text in sorted(_strings(tree))
        if looks_like_sql(text)
    ]


def test_the_detector_sees_queries_and_passes_prose():
    assert looks_like_sql("select * from marts.kpi_daily")
    assert looks_like_sql("create schema if not exists audit")
    assert looks_like_sql("insert into audit.validation_results by name select * from _r")
    assert looks_like_sql("delete from raw.crm__members where rowid in (select unnest(?))")
    assert looks_like_sql("update marts._publication set row_counts = ?")
    assert looks_like_sql("checkpoint")
    assert not looks_like_sql("Publishes the audited marts atomically to data/serving.duckdb")
    assert not looks_like_sql("a model that cannot train yet is skipped")
    source = 'x = 1\nq = f"select {x} from marts.t"\n'
    assert [text for _, text in _strings(ast.parse(source)) if looks_like_sql(text)]


def test_no_module_of_orchestration_holds_sql():
    files = sorted(ORCHESTRATION.rglob("*.py"))
    assert any(p.name == "definitions.py" for p in files) and any(
        p.parent.name == "defs" for p in files
    )
    offenders = [hit for path in files for hit in sql_strings(path)]
    assert not offenders, "SQL in the Dagster code location (move it to a library):\n" + "\n".join(
        offenders
    )
