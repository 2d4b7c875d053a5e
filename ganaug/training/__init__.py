"""Training a (class-conditional) GAN: :func:`train`, its options (:class:`TrainConfig`), the
step (``step``), losses, DiffAugment, records and best-checkpoint selection (``monitor``), and
checkpoints with exact resume (``checkpoint``).

``TrainConfig`` imports nothing heavy (the CLI builds its flags from it); ``train`` and
``TrainingDiverged`` are imported on first use.
"""

from typing import TYPE_CHECKING, Any

from .options import TrainConfig

if TYPE_CHECKING:
    from .runner import TrainingDiverged, train

__all__ = ["TrainConfig", "TrainingDiverged", "train"]


def __getattr__(name: str) -> Any:
    if name in ("train", "TrainingDiverged"):
        from . import runner

        return getattr(runner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
