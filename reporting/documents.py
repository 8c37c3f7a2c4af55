"""The reports folder as seed 001 files it: documents named `YYYY-MM-DD_<TYPE>_<name>_vN`, one
type code per category, versions that stay, a change log in each version, and one index by
category.

Every version is written twice: the markdown (charts as PNG files beside it, relative links, so
versions stay small and diffable) and a self-contained HTML page (`.html`, the same text with the
charts embedded), which opens anywhere, mailed or attached, without the folder.

A document's `snapshot` (key, value: the figures its change log follows) is kept beside it as
`<stem>_snapshot.csv`; the next version of the same day compares against it.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import mimetypes
import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from markdown_it import MarkdownIt

# type code -> category (seed 001: registration and login, campaigns and promotions, data
# analysis reports, customer feedback)
CATEGORIES = {
    "RPT": "Data analysis reports",
    "REG": "Registrations",
    "ACT": "Campaigns and experiments",
    "FBK": "Customer feedback",
}
FILE_PATTERN = re.compile(r"^(\d{4}-\d{2}-\d{2})_(" + "|".join(CATEGORIES) + r")_(\w+)_v(\d+)\.md$")
_IMAGE_LINK = re.compile(r"!\[([^\]]*)\]\(([^)\s]+)\)")
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_STYLE = (
    "body{font-family:system-ui,'Noto Sans CJK SC','PingFang SC',sans-serif;max-width:60rem;"
    "margin:2rem auto;padding:0 1rem;color:#222}table{border-collapse:collapse;margin:1rem 0}"
    "th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}th{background:#f3f3f3}"
    "td:first-child,th:first-child{text-align:left}img{max-width:100%}"
)


@dataclass
class Document:
    """One version's content; `write_document` names, numbers and files it."""

    category: str  # a key of CATEGORIES
    name: str  # the content description of the file name (a word: registrations, campaigns)
    report_date: dt.date
    title: str
    body: list[str]  # markdown lines; charts are linked as ![title](<chart file name>)
    charts: dict[str, bytes] = field(default_factory=dict)  # suffix -> PNG bytes
    snapshot: pd.DataFrame | None = None  # key, value

    def stem(self, version: int) -> str:
        if self.category not in CATEGORIES:
            raise ValueError(f"unknown document type {self.category!r}: one of {list(CATEGORIES)}")
        return f"{self.report_date.isoformat()}_{self.category}_{self.name}_v{version}"


def versions(reports_dir: Path, day: dt.date, category: str, name: str) -> list[int]:
    found = []
    for path in reports_dir.glob(f"{day.isoformat()}_{category}_{name}_v*.md"):
        match = FILE_PATTERN.match(path.name)
        if match and match.group(3) == name:
            found.append(int(match.group(4)))
    return sorted(found)


def chart_name(document: Document, version: int, suffix: str) -> str:
    return f"{document.stem(version)}_{suffix}.png"


def change_log(now: pd.DataFrame | None, before: pd.DataFrame | None, version: int) -> list[str]:
    """What changed against the previous version of the same day's document (key, value)."""
    if before is None or now is None or version == 1:
        return [f"- v{version}: first version of this day's document."]
    merged = now.merge(before, on="key", how="outer", suffixes=("", "_before"))
    value = pd.to_numeric(merged["value"], errors="coerce")
    previous = pd.to_numeric(merged["value_before"], errors="coerce")
    changed = merged[((value - previous).abs() > 1e-9) | (value.isna() != previous.isna())]
    if changed.empty:
        return [f"- v{version}: regenerated; no figure changed."]
    return [
        f"- v{version}: {r.key} {_log_value(r.value_before)} -> {_log_value(r.value)}"
        for r in changed.itertuples()
    ]


def _log_value(value) -> str:
    return "not measured" if pd.isna(value) else f"{float(value):.3f}"


def write_document(document: Document, reports_dir: Path) -> Path:
    """Write the next version of the day's document (markdown, HTML, charts, snapshot); earlier
    versions stay; rewrite the index. Returns the markdown file."""
    reports_dir.mkdir(parents=True, exist_ok=True)
    found = versions(reports_dir, document.report_date, document.category, document.name)
    version = (found or [0])[-1] + 1
    before = None
    if found:
        previous = reports_dir / f"{document.stem(found[-1])}_snapshot.csv"
        if previous.exists():
            before = pd.read_csv(previous, dtype={"key": str})
    charts = {chart_name(document, version, suffix): png for suffix, png in document.charts.items()}
    for name, png in charts.items():
        (reports_dir / name).write_bytes(png)
    body = [_link_charts(line, document, version) for line in document.body]
    text = "\n".join(
        [
            f"# {document.title} {document.report_date.isoformat()} (v{version})",
            "",
            *body,
            "",
            "## Change log",
            "",
            *change_log(document.snapshot, before, version),
            "",
        ]
    )
    if document.snapshot is not None:
        document.snapshot[["key", "value"]].to_csv(
            reports_dir / f"{document.stem(version)}_snapshot.csv", index=False
        )
    path = reports_dir / f"{document.stem(version)}.md"
    path.write_text(text, encoding="utf-8")
    write_html(path)
    write_index(reports_dir)
    return path


def _link_charts(line: str, document: Document, version: int) -> str:
    """`![title](suffix)` in a body names a chart by its suffix: link the version's file."""

    def link(match: re.Match) -> str:
        alt, target = match.group(1), match.group(2)
        if target in document.charts:
            return f"![{alt}]({chart_name(document, version, target)})"
        return match.group(0)

    return _IMAGE_LINK.sub(link, line)


def inline_images(markdown: str, folder: Path) -> str:
    """The text with every relative image link replaced by the image itself (a base64 data URI),
    for viewers that cannot resolve links next to the file (the Dagster UI preview, HTML mail)."""

    def embed(match: re.Match) -> str:
        alt, target = match.group(1), match.group(2)
        if _URL_SCHEME.match(target) or target.startswith("/"):
            return match.group(0)
        mime = mimetypes.guess_type(target)[0] or "application/octet-stream"
        data = base64.b64encode((folder / target).read_bytes()).decode("ascii")
        return f"![{alt}](data:{mime};base64,{data})"

    return _IMAGE_LINK.sub(embed, markdown)


def to_html(markdown: str, title: str) -> str:
    """A whole HTML page from markdown (CommonMark with tables); raw HTML in the text is escaped."""
    renderer = MarkdownIt("commonmark", {"html": False}).enable("table")
    # data URIs are what a self-contained page needs; markdown-it rejects them by default
    renderer.validateLink = lambda url: not url.lower().startswith(("javascript:", "vbscript:"))
    return (
        '<!doctype html>\n<html lang="zh-CN">\n<head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n"
        f"{renderer.render(markdown)}</body>\n</html>\n"
    )


def write_html(markdown_path: Path) -> Path:
    """The self-contained HTML page of a markdown document: charts embedded, links kept."""
    text = markdown_path.read_text(encoding="utf-8")
    title = text.splitlines()[0].lstrip("# ").strip() if text else markdown_path.stem
    page = to_html(inline_images(text, markdown_path.parent), title)
    html_path = markdown_path.with_suffix(".html")
    html_path.write_text(page, encoding="utf-8")
    return html_path


def render_index(reports_dir: Path) -> str:
    """Every version of every document, newest first, one section per category."""
    rows = sorted(
        (m.group(1), m.group(2), m.group(3), int(m.group(4)), p.name)
        for p in reports_dir.glob("*.md")
        if (m := FILE_PATTERN.match(p.name))
    )
    lines = ["# Report index", ""]
    for code, category in CATEGORIES.items():
        mine = [row for row in rows if row[1] == code]
        lines += [f"## {code}: {category}", ""]
        if not mine:
            lines += ["No document yet.", ""]
            continue
        lines += ["| date | document | version | file | page |", "|---|---|---|---|---|"]
        for day, _, name, version, file in reversed(mine):
            page = file.removesuffix(".md") + ".html"
            lines.append(f"| {day} | {name} | v{version} | [{file}]({file}) | [html]({page}) |")
        lines.append("")
    return "\n".join(lines)


def write_index(reports_dir: Path) -> Path:
    text = render_index(reports_dir)
    (reports_dir / "index.md").write_text(text, encoding="utf-8")
    (reports_dir / "index.html").write_text(to_html(text, "Report index"), encoding="utf-8")
    return reports_dir / "index.md"
