"""Training checkpoints and the run folder: what ``--resume`` reads and ``--overwrite`` guards.

A checkpoint holds the live G and D weights, the EMA generator, both optimisers, the step, the
best-so-far generator and the resolved config. It is written with ``torch.save`` and read back
with ``weights_only=True`` (tensors and plain containers only, no code). All randomness in the
loop is a pure function of (seed, step, rank), so step + weights is the whole RNG state.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import torch

from .._files import replacing
from .config import RUN_MARKER
from .options import option_defaults

__all__ = [
    "checkpoint_state",
    "nonfinite_modules",
    "restore",
    "CKPT_NAME",
    "CONFIG_NAME",
    "prepare_run_dir",
    "save_checkpoint",
    "load_checkpoint",
    "check_resume_config",
]

CKPT_NAME = "checkpoint.pt"
CONFIG_NAME = "config.json"


def prepare_run_dir(
    run_dir: Path, *, config: dict[str, Any], resume: bool, overwrite: bool
) -> Path | None:
    """Create or check the run folder; returns the checkpoint to resume from (or None).

    Refuses a folder that holds another run unless ``resume`` (same config) or ``overwrite``.
    """
    ckpt = run_dir / CKPT_NAME
    if resume:
        if not ckpt.exists():
            raise FileNotFoundError(f"--resume: no checkpoint at {ckpt}; start without --resume")
        saved = json.loads((run_dir / CONFIG_NAME).read_text())
        check_resume_config(saved, config, ckpt)
        return ckpt
    if run_dir.exists() and any(run_dir.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"the output folder {run_dir} already holds files (another run?); pass --resume "
                f"to continue it or --overwrite to replace it"
            )
        if not (run_dir / CONFIG_NAME).exists():
            raise FileExistsError(
                f"--overwrite: {run_dir} is not a ganaug training run (no {CONFIG_NAME}); "
                f"refusing to delete it, choose another --run-dir"
            )
        shutil.rmtree(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json(run_dir / CONFIG_NAME, config)
    return None


def check_resume_config(saved: dict[str, Any], current: dict[str, Any], where: Path) -> None:
    """Raise when the identity fields of two resolved configs differ. A field the checkpoint
    predates (an option added since) counts as that option's default."""
    old = {**option_defaults(), **saved.get("identity", {})}
    keys = sorted(set(saved.get("identity", {})) | set(current["identity"]))
    diff = {
        k: (old.get(k), current["identity"].get(k))
        for k in keys
        if old.get(k) != current["identity"].get(k)
    }
    if saved.get("marker") != RUN_MARKER or diff:
        shown = "; ".join(f"{k}: checkpoint {a!r}, now {b!r}" for k, (a, b) in diff.items())
        raise ValueError(
            f"--resume: the checkpoint at {where} was written by another configuration "
            f"({shown or 'not a ganaug training run'}); use the same options or a new --run-dir"
        )


def write_json(path: Path, obj: dict[str, Any]) -> None:
    with replacing(path) as tmp:
        tmp.write_text(json.dumps(obj, indent=2, sort_keys=True) + "\n")


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Write atomically: a crash mid-write leaves the previous checkpoint intact."""
    with replacing(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path) -> dict[str, Any]:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001  (any unreadable file gets the same clear message)
        raise ValueError(f"{path}: not a readable ganaug checkpoint ({e})") from e


def nonfinite_modules(nets: Any) -> list[str]:
    """Names of the networks holding a NaN/inf weight or buffer (a device sync)."""
    mods = (("G", nets.g), ("D", nets.d), ("EMA G", nets.ema))
    return [
        name
        for name, m in mods
        if not all(
            torch.isfinite(t).all() for t in m.state_dict().values() if t.is_floating_point()
        )
    ]


def checkpoint_state(nets: Any, step: int, best: dict[str, Any] | None) -> dict[str, Any]:
    """Everything a resumed run needs to continue bit-for-bit (all randomness is a function of
    (seed, step, critic iteration, rank): see :mod:`ganaug.training.step`)."""
    return {
        "step": step,
        "g": nets.g.state_dict(),
        "d": nets.d.state_dict(),
        "ema": nets.ema.state_dict(),
        "opt_g": nets.opt_g.state_dict(),
        "opt_d": nets.opt_d.state_dict(),
        "best": best,
        "lecam": nets.lecam,  # the LeCam anchors (None when off)
    }


def restore(nets: Any, selector: Any | None, path: Path) -> int:
    """Load a checkpoint into the networks/optimisers (and the best-so-far); returns its step.

    The learning rates stored with the optimisers are not kept: the training loop sets the
    current ones at every step (they may be lowered for a resumed run, and may decay).
    """
    state = load_checkpoint(path)
    nets.g.load_state_dict(state["g"])
    nets.d.load_state_dict(state["d"])
    nets.ema.load_state_dict(state["ema"])
    nets.opt_g.load_state_dict(state["opt_g"])
    nets.opt_d.load_state_dict(state["opt_d"])
    if nets.lecam is not None and state.get("lecam") is not None:
        nets.lecam.copy_(state["lecam"])
    if selector is not None:
        selector.load(state.get("best"))
    return int(state["step"])
