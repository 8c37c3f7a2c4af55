"""File-based model registry: the one place that reads and writes model versions.

Layout under ``root``::

    <root>/<name>/<version>/model.pkl       the pickled estimator
    <root>/<name>/<version>/manifest.json   what it was trained on, with which params, how it scored
    <root>/<name>/PROMOTED.json             the version currently serving (absent = none)
    <root>/<name>/SKIPPED.json              the last training that was skipped, and why

A version is ``<name>-v<NNNN>-<YYYYMMDDTHHMMSS>``: a sequence number that only grows, plus the UTC
save time. Versions are never overwritten or deleted, so an earlier model can always be reloaded
and a promotion can be rolled back by promoting an older version. Writes go to a temporary folder
or file first and are moved into place atomically, so a reader never sees half a version.

Pickles execute code when loaded: only load from a registry root you control. ``load`` checks the
pickle's SHA-256 against the manifest before unpickling.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import re
import shutil
import tempfile
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["ModelRegistry", "hash_frame"]

MODEL_FILE = "model.pkl"
MANIFEST_FILE = "manifest.json"
PROMOTED_FILE = "PROMOTED.json"
SKIPPED_FILE = "SKIPPED.json"
_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")


def hash_frame(df: pd.DataFrame) -> str:
    """Stable SHA-256 of a DataFrame's content: values, index, column names and dtypes.

    Uses ``pandas.util.hash_pandas_object`` (row hashes including the index), so the same data
    gives the same hash across processes and machines; reordering rows or columns changes it.
    """
    digest = hashlib.sha256()
    digest.update(json.dumps([str(c) for c in df.columns]).encode())
    digest.update(json.dumps([str(t) for t in df.dtypes]).encode())
    rows = pd.util.hash_pandas_object(df, index=True)
    digest.update(np.ascontiguousarray(rows.to_numpy(dtype="uint64")).tobytes())
    return digest.hexdigest()


def _jsonable(value: Any) -> Any:
    """Convert metrics/params to JSON: numpy scalars, dates, DataFrames (records), tuples."""
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, pd.DataFrame):
        return _jsonable(value.to_dict(orient="records"))
    if isinstance(value, pd.Series):
        return _jsonable(value.to_dict())
    if isinstance(value, list | tuple | set | np.ndarray):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    if isinstance(value, pd.Timestamp | datetime | date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return repr(value)


def _atomic_write_text(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class ModelRegistry:
    """Versioned model storage on a local (or mounted) file system.

    Args:
        root: the registry folder; created on first save.
    """

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    # -- helpers -----------------------------------------------------------------------------
    @staticmethod
    def _check_name(name: str) -> None:
        if not _NAME.match(name):
            raise ValueError(
                f"model name {name!r} must be lower-case letters, digits and underscores"
            )

    def _sequence_numbers(self, name: str) -> list[int]:
        folder = self.root / name
        if not folder.is_dir():
            return []
        pattern = re.compile(rf"^{re.escape(name)}-v(\d+)-\d{{8}}T\d{{6}}$")
        return sorted(
            int(m.group(1)) for p in folder.iterdir() if p.is_dir() and (m := pattern.match(p.name))
        )

    def _versions(self, name: str) -> list[str]:
        """Versions of a model, oldest first (by sequence number)."""
        folder = self.root / name
        if not folder.is_dir():
            return []
        found = [
            p.name
            for p in folder.iterdir()
            if p.is_dir() and (p / MANIFEST_FILE).is_file() and p.name.startswith(f"{name}-v")
        ]
        return sorted(found, key=lambda v: int(v.split("-v", 1)[1].split("-", 1)[0]))

    # -- public API --------------------------------------------------------------------------
    def save(
        self,
        name: str,
        model_object: Any,
        *,
        training_window: tuple[date | str, date | str] | Mapping[str, Any],
        features: Sequence[str],
        params: Mapping[str, Any],
        metrics: Mapping[str, Any],
        training_data_hash: str,
        saved_at: datetime | None = None,
    ) -> str:
        """Store a new version and return its id, e.g. ``churn-v0003-20261122T060000``.

        Args:
            name: model family (``churn``, ``segmentation``, ``registration_forecast``).
            model_object: the fitted estimator (pickled).
            training_window: (first, last) date of the facts trained on, or a mapping.
            features: feature column names, in order.
            params: estimator parameters.
            metrics: validation metrics (DataFrames are stored as records).
            training_data_hash: :func:`hash_frame` of the training data.
            saved_at: save time (UTC); default now. Only the time stamp in the id; order comes from
                the sequence number.
        """
        self._check_name(name)
        saved_at = (saved_at or datetime.now(UTC)).astimezone(UTC)
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        payload = pickle.dumps(model_object, protocol=pickle.HIGHEST_PROTOCOL)
        model_type = type(model_object)
        if isinstance(training_window, Mapping):
            window = _jsonable(training_window)
        else:
            start, end = training_window
            window = {"start": _jsonable(start), "end": _jsonable(end)}

        staging = Path(tempfile.mkdtemp(dir=folder, prefix=".staging-"))
        try:
            (staging / MODEL_FILE).write_bytes(payload)
            while True:
                sequence = max(self._sequence_numbers(name), default=0) + 1
                version = f"{name}-v{sequence:04d}-{saved_at:%Y%m%dT%H%M%S}"
                manifest = {
                    "name": name,
                    "version": version,
                    "sequence": sequence,
                    "saved_at": saved_at.isoformat(),
                    "training_window": window,
                    "features": list(features),
                    "params": _jsonable(params),
                    "metrics": _jsonable(metrics),
                    "training_data_hash": training_data_hash,
                    "model_class": f"{model_type.__module__}.{model_type.__qualname__}",
                    "model_sha256": hashlib.sha256(payload).hexdigest(),
                }
                (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2), "utf-8")
                try:
                    # rename fails if a concurrent writer took this sequence number first
                    os.rename(staging, folder / version)
                    return version
                except OSError:
                    if not (folder / version).exists():
                        raise
        finally:
            if staging.exists():
                shutil.rmtree(staging, ignore_errors=True)

    def manifest(self, name: str, version: str | None = None) -> dict:
        """The manifest of a version (``None``/``'latest'``/``'promoted'`` or an id)."""
        resolved = self._resolve(name, version)
        return json.loads((self.root / name / resolved / MANIFEST_FILE).read_text("utf-8"))

    def _resolve(self, name: str, version: str | None) -> str:
        if version in (None, "latest"):
            versions = self._versions(name)
            if not versions:
                raise FileNotFoundError(f"no versions of model {name!r} under {self.root}")
            return versions[-1]
        if version == "promoted":
            promoted = self.promoted_version(name)
            if promoted is None:
                raise FileNotFoundError(
                    f"model {name!r} has no promoted version under {self.root}; "
                    "call mark_promoted first"
                )
            return promoted
        if not (self.root / name / version / MANIFEST_FILE).is_file():
            raise FileNotFoundError(f"model version {version!r} not found under {self.root / name}")
        return version

    def load(self, name: str, version: str | None = None) -> Any:
        """Load a model: ``version`` None or ``'latest'`` (newest), ``'promoted'``, or an id.

        Raises ``ValueError`` if the pickle does not match the manifest's SHA-256.
        """
        resolved = self._resolve(name, version)
        folder = self.root / name / resolved
        manifest = json.loads((folder / MANIFEST_FILE).read_text("utf-8"))
        payload = (folder / MODEL_FILE).read_bytes()
        if hashlib.sha256(payload).hexdigest() != manifest["model_sha256"]:
            raise ValueError(
                f"{folder / MODEL_FILE} does not match its manifest's model_sha256; "
                "the file was changed after saving, re-train or restore it"
            )
        return pickle.loads(payload)  # noqa: S301 - registry root is trusted, hash checked

    def list(self, name: str | None = None) -> list[dict]:
        """Manifests of every version (of one model, or all), by name then oldest first.

        Each manifest carries ``promoted`` (True for the serving version).
        """
        if name is not None:
            names = [name]
        elif self.root.is_dir():
            names = sorted(
                p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")
            )
        else:
            names = []
        out = []
        for model in names:
            promoted = self.promoted_version(model)
            for version in self._versions(model):
                manifest = json.loads(
                    (self.root / model / version / MANIFEST_FILE).read_text("utf-8")
                )
                manifest["promoted"] = version == promoted
                out.append(manifest)
        return out

    def mark_promoted(self, name: str, version: str, *, reason: str = "") -> None:
        """Make ``version`` the serving version of ``name`` (earlier versions are kept)."""
        resolved = self._resolve(name, version)
        record = {
            "version": resolved,
            "promoted_at": datetime.now(UTC).isoformat(),
            "reason": reason,
        }
        _atomic_write_text(self.root / name / PROMOTED_FILE, json.dumps(record, indent=2))

    def promoted_version(self, name: str) -> str | None:
        """The serving version of ``name``, or None if nothing was promoted yet."""
        path = self.root / name / PROMOTED_FILE
        if not path.is_file():
            return None
        return json.loads(path.read_text("utf-8"))["version"]

    def record_skipped(
        self,
        name: str,
        *,
        reason: str,
        training_window: Mapping[str, Any],
        recorded_at: datetime | None = None,
    ) -> None:
        """Note that a training of ``name`` was skipped (too little data) and why.

        Only the last skip is kept; it saves no version and changes no promotion. Scoring reads
        it back (:meth:`last_skipped`) to say why there is no model to score with.
        """
        self._check_name(name)
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        record = {
            "name": name,
            "reason": reason,
            "training_window": _jsonable(training_window),
            "recorded_at": (recorded_at or datetime.now(UTC)).astimezone(UTC).isoformat(),
        }
        _atomic_write_text(folder / SKIPPED_FILE, json.dumps(record, indent=2))

    def last_attempt_day(self, name: str) -> str | None:
        """The as-of day (YYYY-MM-DD) of the last training of ``name``, saved or skipped: the
        latest ``data_end`` / ``as_of`` / ``end`` of its training windows, or None if never
        trained."""
        windows = [v.get("training_window") or {} for v in self.list(name)[-1:]]
        skipped = self.last_skipped(name)
        if skipped:
            windows.append(skipped.get("training_window") or {})
        days = [
            str(w.get("data_end") or w.get("as_of") or w.get("end"))
            for w in windows
            if isinstance(w, dict)
        ]
        days = [d[:10] for d in days if d and d != "None"]
        return max(days) if days else None

    def last_skipped(self, name: str) -> dict | None:
        """The last skipped training of ``name`` (reason, training_window, recorded_at), or None."""
        path = self.root / name / SKIPPED_FILE
        if not path.is_file():
            return None
        return json.loads(path.read_text("utf-8"))
