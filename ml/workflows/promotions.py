"""Which of the monthly trained models are promoted (serving scores) in the model registry."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ml.workflows.contract import CHURN, SEGMENTATION
from warehouse.model_registry import ModelRegistry

#: The models whose promotion changes what the quality suites expect (scores only once promoted).
SCORED_MODELS: tuple[str, ...] = (SEGMENTATION, CHURN)


def promoted_models(models_dir: Path | str, names: Sequence[str] = SCORED_MODELS) -> list[str]:
    """The names in `names` (in that order) that have a promoted version under `models_dir`."""
    registry = ModelRegistry(Path(models_dir))
    return [name for name in names if registry.promoted_version(name)]
