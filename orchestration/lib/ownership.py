"""Who owns each asset, and the code version of each Python asset: applied in one place.

Owners are Dagster teams (`team:<name>`), by the asset's group; a dbt model's `meta.owner`
overrides its group's team. dbt assets carry dagster-dbt's code version (the model's checksum);
a Python asset's code version is a hash of the files that compute it (its `defs/` module and the
library package it calls), so the UI marks it changed exactly when that code changed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from functools import cache
from pathlib import Path

import dagster as dg

from orchestration.lib.settings import REPO_ROOT

DATA_ENGINEERING = "team:data-engineering"
ANALYTICS = "team:analytics"
DATA_SCIENCE = "team:data-science"
# 私域运营: the team that sends the WeCom mass messages
CRM_OPERATIONS = "team:crm-operations"

OWNERS_BY_GROUP: dict[str, str] = {
    "ingestion": DATA_ENGINEERING,
    "staging": DATA_ENGINEERING,
    "identity": DATA_ENGINEERING,
    "users": DATA_ENGINEERING,
    # a model directly in its layer's folder, in no subject folder
    "intermediate": DATA_ENGINEERING,
    "marts": DATA_ENGINEERING,
    "rules": ANALYTICS,
    "marts_core": DATA_ENGINEERING,
    "serving": DATA_ENGINEERING,
    "measurement": ANALYTICS,
    "marts_measurement": ANALYTICS,
    # member operations (seed 001): the registration funnel and member satisfaction
    "marts_membership": ANALYTICS,
    "models": DATA_SCIENCE,
    "marts_models": DATA_SCIENCE,
    "activation": CRM_OPERATIONS,
    "marts_activation": CRM_OPERATIONS,
}

# The files that compute each Python asset, by the first part of its key (relative to the repo).
SOURCES_BY_KEY_PREFIX: dict[str, tuple[str, ...]] = {
    "raw": ("orchestration/defs/ingestion.py", "ingestion"),
    "models": ("orchestration/defs/models.py", "ml", "warehouse"),
    "ml": ("orchestration/defs/models.py", "ml", "warehouse"),
    # the suites' keys, not-null, accepted values and references come from the marts' dbt yml
    "audit": ("orchestration/defs/publication.py", "data_quality", "dbt_project/models/marts"),
    "serving": ("orchestration/defs/publication.py", "publishing"),
    "reports": ("orchestration/defs/reports.py", "reporting"),
    "activation": ("orchestration/defs/activation.py", "privacy"),
}


class OwnershipError(ValueError):
    """An asset whose group has no owning team, or whose key prefix has no known sources."""


def owners_for_group(group_name: str | None) -> list[str]:
    """The owning team of an asset group; an unknown group is an error (a new group needs an
    owner before it ships), not an asset nobody answers for."""
    if group_name not in OWNERS_BY_GROUP:
        raise OwnershipError(
            f"asset group {group_name!r} has no owner: add it to OWNERS_BY_GROUP in "
            "orchestration/lib/ownership.py"
        )
    return [OWNERS_BY_GROUP[group_name]]


def source_code_version(paths: Sequence[str], root: Path = REPO_ROOT) -> str:
    """A short sha256 over the given files and every file under the given folders (names and
    bytes, in path order; caches and compiled files left out)."""
    digest = hashlib.sha256()
    for relative in paths:
        base = root / relative
        files = [base] if base.is_file() else sorted(base.rglob("*"))
        for path in files:
            if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            digest.update(path.relative_to(root).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@cache
def _code_version_for_prefix(prefix: str) -> str:
    if prefix not in SOURCES_BY_KEY_PREFIX:
        raise OwnershipError(
            f"no source files known for assets keyed {prefix}/...: add them to "
            "SOURCES_BY_KEY_PREFIX in orchestration/lib/ownership.py"
        )
    return source_code_version(SOURCES_BY_KEY_PREFIX[prefix])


def with_owners_and_code_versions(
    assets: Iterable[dg.AssetsDefinition],
) -> list[dg.AssetsDefinition]:
    """Python assets with their group's team as owners (unless they name their own) and the code
    version of their sources (unless they set one)."""

    def apply(spec: dg.AssetSpec) -> dg.AssetSpec:
        return spec.replace_attributes(
            owners=spec.owners or owners_for_group(spec.group_name),
            code_version=spec.code_version or _code_version_for_prefix(spec.key.path[0]),
        )

    return list(dg.map_asset_specs(apply, assets))
