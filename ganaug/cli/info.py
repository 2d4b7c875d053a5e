"""``ganaug info MODEL``: config, parameter counts and provenance of a model file."""

from __future__ import annotations

import argparse
import json


def add_parser(sub: argparse._SubParsersAction) -> argparse.ArgumentParser:
    p = sub.add_parser(
        "info",
        help="show a model file's config, parameter counts and provenance",
        description="Show a model file's architecture config, parameter counts and provenance.",
    )
    p.add_argument(
        "model",
        nargs="?",
        default=None,
        help="a .safetensors model file or a bundled model name "
        "(default: the bundled fashion-mnist model)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    return p


def run(args: argparse.Namespace) -> int:
    from ..sources import file_sha256, read_model_file

    mf = read_model_file(args.model)
    info = {
        "path": str(mf.path),
        "sha256": file_sha256(mf.path),
        "config": mf.config.to_dict(),
        "generator_params": sum(t.numel() for t in mf.generator_state.values()),
        "discriminator_params": sum(t.numel() for t in mf.discriminator_state.values()),
        "encoder_params": sum(t.numel() for t in mf.encoder_state.values()),
        "encoder_fitted": (mf.encoder_meta or {}).get("fitted"),
        "provenance": mf.provenance,
    }
    if args.json:
        print(json.dumps(info, indent=2, sort_keys=True))
        return 0
    cfg = mf.config
    print(f"model        {info['path']}")
    print(f"sha256       {info['sha256']}")
    print(f"arch         {cfg.arch} {json.dumps(cfg.arch_args, sort_keys=True)}")
    print(f"image shape  {tuple(cfg.image_shape)} (C, H, W)")
    print(f"latent dim   {cfg.latent_dim}")
    kind = "unconditional" if not cfg.num_classes else f"{cfg.num_classes} classes"
    print(f"classes      {kind}" + (f": {', '.join(cfg.class_names)}" if cfg.num_classes else ""))
    print(
        f"parameters   generator {info['generator_params']:,}, "
        f"discriminator {info['discriminator_params']:,}"
    )
    fitted = info["encoder_fitted"]
    if fitted is None:
        print("encoder      none (ganaug fit-encoder adds one, for ganaug score)")
    else:
        print(
            f"encoder      {info['encoder_params']:,} parameters, fitted {fitted['steps']} steps "
            f"on {fitted['images']:,} images of {fitted['data']}"
        )
    for key, value in sorted(mf.provenance.items()):
        print(f"provenance   {key}: {value}")
    return 0
