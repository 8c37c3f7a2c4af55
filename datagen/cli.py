"""`siyu generate`: write synthetic landing extracts and their ground truth."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import pathlib
import sys

from datagen.config import EXPERIMENTS, MAX_EXPERIMENTS, SOURCES, BrandShape, MessConfig


def _sources(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = sorted(set(names) - set(SOURCES))
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a comma-separated subset of {','.join(SOURCES)}, e.g. crm,wecom"
        )
    return names


def _parser() -> argparse.ArgumentParser:
    defaults = MessConfig()
    mess_help = ", ".join(f"{k}={getattr(defaults, k)}" for k in defaults.__dataclass_fields__)
    p = argparse.ArgumentParser(
        prog="siyu generate",
        description="Write synthetic daily CRM / WeCom / mini-program extracts "
        "(<out>/<source>/<YYYY-MM-DD>/...) and ground truth (<out>/_truth/).",
        epilog=f"Default mess rates: {mess_help}. See datagen/README.md and datagen/FORMATS.md.",
    )
    p.add_argument("--persons", type=int, default=20_000, help="number of persons (default 20000)")
    p.add_argument("--days", type=int, default=180, help="number of days (default 180)")
    p.add_argument(
        "--start",
        type=dt.date.fromisoformat,
        default=dt.date(2026, 5, 1),
        help="first day, YYYY-MM-DD (default 2026-05-01)",
    )
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument(
        "--out",
        type=pathlib.Path,
        default=None,
        help="landing folder (default $SIYU_DATA_DIR/landing or ./data/landing)",
    )
    p.add_argument(
        "--clean",
        action="store_true",
        help="no mess: plain phones, no duplicates, resends, late rows or junk phones, UTF-8 only",
    )
    shape = p.add_argument_group(
        "brand shape (default: all three systems, 4 experiments, interactions)"
    )
    shape.add_argument(
        "--sources",
        type=_sources,
        default=SOURCES,
        help="systems the brand runs, comma separated: only their folders and "
        "files are written, persons register only through them "
        f"(default {','.join(SOURCES)})",
    )
    shape.add_argument(
        "--experiments",
        type=int,
        default=None,
        help=f"A/B experiments running, 0..{MAX_EXPERIMENTS}; 0 = no "
        "experiment_id or variant anywhere (default "
        f"{len(EXPERIMENTS)}, or 0 when nothing can be sent)",
    )
    shape.add_argument(
        "--no-interactions",
        action="store_true",
        help="no SMS sends, WeCom messages or campaign sends, mini-program "
        "events (nor check-in/UGC points): members, contacts, groups, "
        "users, orders, purchase points and feedback only",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        help="worker processes (default: one per CPU, at most 4; the output does not depend on it)",
    )
    p.add_argument(
        "--batches-per-day",
        type=int,
        default=1,
        help="intraday batches per day and extract, files named by the batch's end time "
        "(<entity>_HHMM.<ext>, e.g. events_1200.jsonl); 1 = one <entity>.<ext> a day (default)",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments that follow `generate` and run the generator; returns an exit code."""
    from datagen.generate import generate

    parser = _parser()
    args = parser.parse_args(argv)
    try:
        shape = BrandShape(
            sources=args.sources,
            experiments=args.experiments,
            interactions=not args.no_interactions,
        )
    except ValueError as exc:
        parser.error(str(exc))
    if not 1 <= args.batches_per_day <= 96:
        parser.error(f"--batches-per-day must be 1..96, got {args.batches_per_day}")
    out = args.out
    if out is None:
        out = pathlib.Path(os.environ.get("SIYU_DATA_DIR", "data")) / "landing"
    summary = generate(
        persons=args.persons,
        days=args.days,
        start=args.start,
        seed=args.seed,
        out=out,
        progress=not args.no_progress,
        mess=MessConfig.off() if args.clean else None,
        workers=args.workers,
        shape=shape,
        batches_per_day=args.batches_per_day,
    )
    print(summary.report(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
