"""Synthetic daily extracts of the CRM, WeCom and the mini-program, with ground truth.

``generate`` simulates a population (:mod:`datagen.population`), then walks the days: each day is
simulated (:mod:`datagen.activity`), mess is applied (late rows, duplicates, resent files,
encodings) and the files are written (:mod:`datagen.writers`). Same seed, same bytes.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import multiprocessing as mp
import os
import pathlib
import resource
import time
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field

import numpy as np
from tqdm import tqdm

from datagen import plants_activation, plants_intent, plants_measurement, truth
from datagen.activity import ENTITIES, INTERACTION_ENTITIES, simulate_day
from datagen.config import BrandShape, MessConfig
from datagen.population import DAY_MS, TZ_OFFSET_MS, build_population
from datagen.writers import Formatter

__all__ = ["BrandShape", "GenerationSummary", "MessConfig", "generate"]

LATE_ENTITIES = {("crm", "orders"), ("miniprogram", "events"), ("miniprogram", "orders")}
EXTENSIONS = {"crm": "csv", "wecom": "jsonl", "miniprogram": "jsonl"}
CRM_ENCODINGS = ("gbk", "utf-8-sig", "utf-8")


@dataclass
class GenerationSummary:
    """What a run wrote. ``rows`` counts data rows per ``source/entity`` (duplicates and late rows
    included, resent copies counted separately under ``resent_rows``)."""

    out: pathlib.Path
    persons: int
    days: int
    shape: BrandShape = field(default_factory=BrandShape)
    experiments_run: tuple[str, ...] = ()  # planned experiments whose window fits in the run
    rows: dict[str, int] = field(default_factory=dict)
    resent_rows: int = 0
    files: int = 0
    bytes: int = 0
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # process CPU time (all threads); wall time suffers on a busy host
    truth_rows: dict[str, int] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values()) + self.resent_rows

    @property
    def rows_per_second(self) -> float:
        return self.total_rows / self.seconds if self.seconds else 0.0

    def shape_line(self) -> str:
        """The brand shape as run: sources, experiments (ids; planned ones whose window does
        not fit in the run are not run), interactions."""
        shape = self.shape
        run = ", ".join(self.experiments_run) or "none"
        skipped = shape.experiments - len(self.experiments_run)
        fit = f", {skipped} more did not fit in {self.days} days" if skipped else ""
        return (
            f"shape: sources {','.join(shape.sources)}; experiments "
            f"{len(self.experiments_run)} ({run}{fit}); "
            f"interactions {'yes' if shape.interactions else 'no'}"
        )

    def report(self) -> str:
        lines = [self.shape_line()]
        lines += [f"{k:32s} {v:>12,d}" for k, v in sorted(self.rows.items())]
        lines += [
            f"{'resent copies':32s} {self.resent_rows:>12,d}",
            f"total rows {self.total_rows:,d} in {self.files:,d} files, "
            f"{self.bytes / 1e6:,.1f} MB, {self.seconds:,.1f} s wall ({self.rows_per_second:,.0f} rows/s),"
            f" {self.cpu_seconds:,.1f} s CPU",
        ]
        return "\n".join(lines)


def _concat(batches: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if len(batches) == 1:
        return batches[0]
    return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}


def _select(batch: dict[str, np.ndarray], mask_or_idx: np.ndarray) -> dict[str, np.ndarray]:
    return {k: v[mask_or_idx] for k, v in batch.items()}


def _n(batch: dict[str, np.ndarray]) -> int:
    return len(next(iter(batch.values())))


def generate(
    persons: int,
    days: int,
    start: dt.date,
    seed: int,
    out: pathlib.Path,
    progress: bool = True,
    mess: MessConfig | None = None,
    workers: int | None = None,
    shape: BrandShape | None = None,
    batches_per_day: int = 1,
) -> GenerationSummary:
    """Write ``days`` daily folders of extracts for ``persons`` persons under ``out``.

    Layout and formats: datagen/FORMATS.md. Ground truth goes to ``out/_truth``. ``shape``
    (default: the three-system brand) says which sources are written, how many experiments
    run and whether there are interactions; the truth only holds what was written.
    Deterministic: the same arguments give byte-identical files whatever ``workers`` is
    (default: one process per available CPU, at most 4; 1 = no worker processes). Returns the
    rows, bytes and speed.

    ``batches_per_day`` > 1 splits each day's file of an extract into that many intraday batches
    by the rows' time of day, ``<entity>_HHMM.<ext>`` named after the batch's end time (``N=4``:
    ``events_0600``, ``_1200``, ``_1800``, ``_2400``); the rows of a day are the same, only their
    files (and order) differ. A batch without rows is not written (a day without any row keeps
    one empty file, its last batch). 1 (the default) writes one ``<entity>.<ext>`` per day.
    """
    if persons < 1 or days < 1:
        raise ValueError(f"persons and days must be >= 1, got persons={persons}, days={days}")
    if not 1 <= batches_per_day <= MAX_BATCHES_PER_DAY:
        raise ValueError(f"batches_per_day must be 1..{MAX_BATCHES_PER_DAY}, got {batches_per_day}")
    mess = MessConfig() if mess is None else mess
    shape = BrandShape() if shape is None else shape
    out = pathlib.Path(out)
    t0, c0 = time.perf_counter(), time.process_time()
    pop = build_population(persons, days, start, seed, mess, shape)
    pop.activation = plants_activation.plan(pop, seed)
    fmt = Formatter(pop, mess, seed)
    summary = GenerationSummary(
        out=out,
        persons=persons,
        days=days,
        shape=shape,
        experiments_run=tuple(
            ex.experiment_id
            for ex, d in zip(pop.experiments, pop.exp_send_day, strict=True)
            if d >= 0
        ),
    )
    written = tuple(
        key[0] in shape.sources and (shape.interactions or key not in INTERACTION_ENTITIES)
        for key in ENTITIES
    )
    ctx = _Context(
        pop=pop,
        fmt=fmt,
        seed=seed,
        start=start,
        days=days,
        out=out,
        mess=mess,
        written=written,
        batches_per_day=batches_per_day,
    )
    workers = _default_workers() if workers is None else max(1, workers)
    if workers > 1 and days > 1 and "fork" in mp.get_all_start_methods():
        chunks = _day_chunks(pop, min(days, 2 * workers))
        global _CTX
        _CTX = ctx  # inherited by the forked workers (copy-on-write), never pickled
        cpu_children0 = _children_cpu()
        try:
            with ProcessPoolExecutor(
                max_workers=workers, mp_context=mp.get_context("fork")
            ) as pool:
                futures = [pool.submit(_run_days_in_worker, a, b) for a, b in chunks]
                summary.truth_rows = truth.write_truth(pop, out, mess)
                bar = tqdm(
                    total=days, desc="generate", unit="day", disable=not progress, leave=False
                )
                for fut in as_completed(futures):
                    stats = fut.result()
                    _merge(summary, stats)
                    bar.update(stats.days)
                bar.close()
        finally:
            _CTX = None
        children_cpu = _children_cpu() - cpu_children0
    else:
        summary.truth_rows = truth.write_truth(pop, out, mess)
        _merge(summary, _run_days(ctx, 0, days, progress))
        children_cpu = 0.0
    summary.rows = dict(sorted(summary.rows.items()))
    summary.seconds = time.perf_counter() - t0
    summary.cpu_seconds = time.process_time() - c0 + children_cpu
    return summary


# --- day chunks (run in worker processes) ---------------------------------------------------
ROWS_PER_CALL = 1 << 16  # rows formatted per Arrow call (several small day files share one)
MAX_BATCHES_PER_DAY = 96  # one batch per 15 minutes


def batch_names(batches_per_day: int) -> list[str]:
    """The HHMM end time of each intraday batch: 4 -> 0600, 1200, 1800, 2400."""
    minutes = [(k + 1) * 1440 // batches_per_day for k in range(batches_per_day)]
    return [f"{m // 60:02d}{m % 60:02d}" for m in minutes]


def _batch_of_rows(batch: dict[str, np.ndarray], day_local_ms: int, batches_per_day: int):
    """Each row's intraday batch by its time of day (rows from earlier days: the first batch,
    rows after the day: the last); extracts without a row time go to the last batch."""
    ms = batch.get("ms", batch.get("updated_ms"))
    n = _n(batch)
    if ms is None:
        return np.full(n, batches_per_day - 1, dtype=np.int64)
    into_day = np.asarray(ms, dtype=np.int64) + TZ_OFFSET_MS - day_local_ms
    return np.clip(into_day * batches_per_day // DAY_MS, 0, batches_per_day - 1)


_CTX: _Context | None = None


@dataclass
class _Context:
    pop: object
    fmt: Formatter
    seed: int
    start: dt.date
    days: int
    out: pathlib.Path
    mess: MessConfig
    written: tuple[bool, ...]  # per entry of ENTITIES: is its file written
    batches_per_day: int = 1  # intraday batch files per day and extract (1: one file a day)
    carry: dict = field(default_factory=dict)  # planted rows due on a later day (plants_*.py)


@dataclass
class _Stats:
    days: int = 0
    rows: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    resent_rows: int = 0
    files: int = 0
    bytes: int = 0


def _default_workers() -> int:
    try:
        n = len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        n = os.cpu_count() or 1
    return max(1, min(n, 4))


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _day_chunks(pop, n_chunks: int) -> list[tuple[int, int]]:
    """``n_chunks`` ranges of consecutive days with about equal work (persons registered plus
    persons active on each day), heaviest (latest) first. Each chunk re-simulates a few days
    before it, so few large chunks waste less than many small ones."""
    days = pop.days
    registered = np.cumsum(np.bincount(pop.arrival, minlength=days)[:days])
    gone = np.cumsum(np.bincount(np.clip(pop.churn_day + 1, 0, days), minlength=days + 1)[:days])
    work = np.cumsum(2 * registered - gone + 1.0)
    cuts = np.searchsorted(work, work[-1] * np.arange(1, n_chunks) / n_chunks)
    edges = np.unique(np.concatenate([[0], np.clip(cuts + 1, 1, days - 1), [days]]))
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:], strict=True)][::-1]


def _merge(summary: GenerationSummary, stats: _Stats) -> None:
    for k, v in stats.rows.items():
        summary.rows[k] = summary.rows.get(k, 0) + v
    summary.resent_rows += stats.resent_rows
    summary.files += stats.files
    summary.bytes += stats.bytes


def _run_days_in_worker(a: int, b: int) -> _Stats:
    assert _CTX is not None
    return _run_days(_CTX, a, b)


def _route_day(ctx: _Context, d: int, pending: dict) -> list[tuple[int, dict[str, np.ndarray]]]:
    """Simulate day ``d``; rows due later (late rows, replies after midnight) go to ``pending``;
    returns the day's batch per entity index, with the rows earlier days left for it."""
    batches = simulate_day(ctx.pop, d, ctx.seed)
    rng = np.random.default_rng([ctx.seed, 2, d])
    mess, days = ctx.mess, ctx.days
    day_start0 = ctx.pop.start_epoch_day
    ready = []
    for e_idx, key in enumerate(ENTITIES):
        if not ctx.written[e_idx]:
            continue
        batch = batches[key]
        if key == ("wecom", "messages") and _n(batch):
            # replies sent after midnight belong to a later day's archive
            row_day = (batch["ms"] + TZ_OFFSET_MS) // DAY_MS - day_start0
            later = row_day > d
            for target in np.unique(row_day[later]):
                if target < days:
                    pending[(int(target), key)].append(_select(batch, row_day == target))
            batch = _select(batch, ~later)
        if key in LATE_ENTITIES and mess.late_row_rate > 0 and _n(batch):
            delay = rng.integers(1, mess.late_max_days + 1, size=_n(batch))
            late = (rng.random(_n(batch)) < mess.late_row_rate) & (d + delay < days)
            for k in np.unique(delay[late]):
                pending[(d + int(k), key)].append(_select(batch, late & (delay == k)))
            batch = _select(batch, ~late)
        ready.append((e_idx, _concat([batch, *pending.pop((d, key), [])])))
    return ready


def _run_days(ctx: _Context, a: int, b: int, progress: bool = False) -> _Stats:
    """Write the files of days ``a``..``b``-1. Days before ``a`` that can still send rows into
    the chunk (late rows, replies after midnight) are simulated again, not written, so a chunk
    never depends on another one and the bytes do not depend on scheduling."""
    # a reply comes at most 20 h after its burst, i.e. on the next day
    warmup = max(1, ctx.mess.late_max_days if ctx.mess.late_row_rate > 0 else 1)
    for source in ctx.pop.shape.sources:
        for d in range(a, min(b + 1, ctx.days)):  # b: resent files of day b - 1
            (ctx.out / source / (ctx.start + dt.timedelta(days=d)).isoformat()).mkdir(
                parents=True, exist_ok=True
            )
    pending: dict[tuple[int, tuple[str, str]], list] = defaultdict(list)
    writer = _ChunkWriter(ctx)
    for d in tqdm(
        range(max(0, a - warmup), b), desc="generate", unit="day", disable=not progress, leave=False
    ):
        ready = _route_day(ctx, d, pending)
        plants_measurement.plant_day(ctx, d, ready, writer.stats, write=d >= a)
        if d < a:
            continue
        for e_idx, batch in ready:
            writer.add(d, e_idx, batch)
    writer.flush()
    writer.stats.days = b - a
    return writer.stats


class _ChunkWriter:
    """Collects the day files of one entity until ``ROWS_PER_CALL`` rows, formats them in one
    go and writes each file. Every random choice is drawn per file from its own stream
    ``default_rng([seed, 3, day, entity])`` before formatting, so the grouping never shows."""

    def __init__(self, ctx: _Context):
        self.ctx = ctx
        self.stats = _Stats()
        self.queue: dict[int, list] = defaultdict(list)
        self.queued_rows: dict[int, int] = defaultdict(int)

    def add(self, d: int, e_idx: int, batch: dict[str, np.ndarray]) -> None:
        ctx, mess = self.ctx, self.ctx.mess
        source, entity = ENTITIES[e_idx]
        if entity == "messages":  # the planted intents of the day's inbound messages
            truth_day = plants_intent.truth_table(ctx.fmt.message_ids(batch), batch, ctx.pop)
            day = (ctx.start + dt.timedelta(days=d)).isoformat()
            plants_intent.write_truth_day(ctx.out, day, truth_day)
        rng = np.random.default_rng([ctx.seed, 3, d, e_idx])
        n = _n(batch)
        if mess.duplicate_row_rate > 0 and n:
            dup = np.flatnonzero(rng.random(n) < mess.duplicate_row_rate)
            batch = _select(batch, np.sort(np.concatenate([np.arange(n), dup])))
            n = _n(batch)
        if n:
            batch = {**batch, **ctx.fmt.draw(entity, n, rng)}
        enc = _pick_encoding(rng, mess) if source == "crm" else 2
        resend = rng.random() < mess.resend_file_rate and d + 1 < ctx.days
        slots = None
        if ctx.batches_per_day > 1:
            day_local_ms = (ctx.pop.start_epoch_day + d) * DAY_MS
            slot = _batch_of_rows(batch, day_local_ms, ctx.batches_per_day) if n else np.zeros(0)
            order = np.argsort(slot, kind="stable")
            batch = _select(batch, order) if n else batch
            slots = np.bincount(slot.astype(np.int64), minlength=ctx.batches_per_day)
        self.queue[e_idx].append((d, n, batch, enc, resend, slots))
        self.queued_rows[e_idx] += n
        if self.queued_rows[e_idx] >= ROWS_PER_CALL:
            self._flush(e_idx)

    def flush(self) -> None:
        for e_idx in list(self.queue):
            self._flush(e_idx)

    def _flush(self, e_idx: int) -> None:
        items = self.queue.pop(e_idx, [])
        self.queued_rows.pop(e_idx, None)
        if not items:
            return
        ctx = self.ctx
        source, entity = ENTITIES[e_idx]
        ext = EXTENSIONS[source]
        nonempty = [it[2] for it in items if it[1]]
        body = ctx.fmt.body(source, entity, _concat(nonempty), ROWS_PER_CALL) if nonempty else None
        header = ctx.fmt.header(source, entity)
        row = 0
        st = self.stats
        for d, n, _, enc, resend, slots in items:
            date = ctx.start + dt.timedelta(days=d)
            day_dir = ctx.out / source / date.isoformat()
            if slots is not None:
                # intraday batches: the day's rows, sorted by batch in `add`, one file per batch
                names = batch_names(ctx.batches_per_day)
                lo = row
                for k, count in enumerate(slots):
                    if count == 0 and not (n == 0 and k == len(slots) - 1):
                        continue
                    part = body.rows(lo, lo + int(count)) if count else b""
                    lo += int(count)
                    if source == "crm":
                        part = _encode_crm(header, part, enc)
                    _write_file(day_dir / f"{entity}_{names[k]}.{ext}", part)
                    st.files += 1
                    st.bytes += len(part)
            data = body.rows(row, row + n) if n else b""
            row += n
            if source == "crm":
                data = _encode_crm(header, data, enc)
            if slots is None:
                _write_file(day_dir / f"{entity}.{ext}", data)
                st.files += 1
                st.bytes += len(data)
            st.rows[f"{source}/{entity}"] += n
            if resend:
                nxt = (date + dt.timedelta(days=1)).isoformat()
                _write_file(ctx.out / source / nxt / f"{entity}_resend.{ext}", data)
                st.files += 1
                st.bytes += len(data)
                st.resent_rows += n


# Large files bypass the page cache (O_DIRECT) for their 4 KiB-aligned part: on this kind of VM
# filling fresh page-cache pages costs ~2 s of system CPU per GB, direct writes ~0.1 s.
_DIRECT_MIN = 1 << 20
_ALIGN = 4096
_direct_ok = hasattr(os, "O_DIRECT")
_direct_buf = np.zeros(0, dtype=np.uint8)


def _aligned(nbytes: int) -> np.ndarray:
    """A reused page-aligned scratch buffer of ``nbytes`` bytes."""
    global _direct_buf
    if len(_direct_buf) < nbytes + _ALIGN:
        _direct_buf = np.zeros(max(nbytes + _ALIGN, 2 * len(_direct_buf)), dtype=np.uint8)
    start = (-_direct_buf.ctypes.data) % _ALIGN
    return _direct_buf[start : start + nbytes]


def _write_all(fd: int, data) -> None:
    view = memoryview(data).cast("B")
    while len(view):
        view = view[os.write(fd, view) :]


def _write_file(path: pathlib.Path, data) -> None:
    """Write ``data`` (bytes-like) to ``path``; same bytes whichever way it is written."""
    global _direct_ok
    n = len(data)
    aligned = n - n % _ALIGN
    if _direct_ok and aligned >= _DIRECT_MIN:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_DIRECT, 0o666)
            try:
                buf = _aligned(aligned)
                buf[:] = np.frombuffer(data, dtype=np.uint8, count=aligned)
                _write_all(fd, buf)
                if aligned < n:
                    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_DIRECT)
                    _write_all(fd, memoryview(data)[aligned:])
            finally:
                os.close(fd)
            return
        except OSError:  # no O_DIRECT on this file system: plain writes from now on
            _direct_ok = False
    with open(path, "wb") as f:
        f.write(data)


def _encode_crm(header: str, body: memoryview, enc: int) -> bytes:
    if enc == 0:  # GBK: every character the generator writes exists in GBK
        return (header + str(body, "utf-8")).encode("gbk")
    head = header.encode("utf-8")
    return (b"\xef\xbb\xbf" + head if enc == 1 else head) + body


def _pick_encoding(rng: np.random.Generator, mess: MessConfig) -> int:
    u = rng.random()
    if u < mess.crm_gbk_share:
        return 0
    if u < mess.crm_gbk_share + mess.crm_utf8_bom_share:
        return 1
    return 2
