"""`siyu generate`: write synthetic landing extracts and their ground truth."""

from __future__ import annotations

import argparse
import datetime as dt
import os
import pathlib
import sys

from datagen.config import MessConfig


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
    p.add_argument("--start", type=dt.date.fromisoformat, default=dt.date(2026, 5, 1),
                   help="first day, YYYY-MM-DD (default 2026-05-01)")
    p.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    p.add_argument("--out", type=pathlib.Path, default=None,
                   help="landing folder (default $SIYU_DATA_DIR/landing or ./data/landing)")
    p.add_argument("--clean", action="store_true", help="no mess: plain phones, no duplicates, "
                   "resends, late rows or junk phones, UTF-8 only")
    p.add_argument("--workers", type=int, default=None,
                   help="worker processes (default: one per CPU, at most 4; the output does not "
                        "depend on it)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def main(argv: list[str] | None = None) -> int:
    """Parse the arguments that follow `generate` and run the generator; returns an exit code."""
    from datagen.generate import generate

    args = _parser().parse_args(argv)
    out = args.out
    if out is None:
        out = pathlib.Path(os.environ.get("SIYU_DATA_DIR", "data")) / "landing"
    summary = generate(
        persons=args.persons, days=args.days, start=args.start, seed=args.seed, out=out,
        progress=not args.no_progress, mess=MessConfig.off() if args.clean else None,
        workers=args.workers,
    )
    print(summary.report(), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
