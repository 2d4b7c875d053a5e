"""How many latent directions a generator uses per class: the participation ratio of dG/dz.

For each class, the Jacobian of the generator's output with respect to z at a few random z;
its squared singular values s_i give the participation ratio (sum s_i)^2 / sum s_i^2: about k
when k directions carry the variation, up to the image size. The embedding of ``cdcgan``'s
``z_embed: "mul"`` also prints how many of its entries per class stay above a tenth of the
largest (benchmarks/RESULTS.md, issue 12).

    python benchmarks/latent_usage.py ganaug/assets/fashion-mnist.safetensors M.safetensors
"""

from __future__ import annotations

import argparse

import torch

from ganaug.sources.modelfile import read_model_file


def participation_ratio(g: torch.nn.Module, z: torch.Tensor, y: torch.Tensor) -> float:
    """(sum s)^2 / sum s^2 of the squared singular values of d G(z, y) / dz, one z (1, D)."""
    jac = torch.autograd.functional.jacobian(lambda v: g(v, y).flatten(), z)
    s = torch.linalg.svdvals(jac.reshape(jac.shape[0], -1)) ** 2
    return float(s.sum() ** 2 / (s**2).sum())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("models", nargs="+")
    ap.add_argument("--points", type=int, default=4, help="random z per class")
    args = ap.parse_args()
    for path in args.models:
        mf = read_model_file(path)
        g = mf.build_generator().eval()
        rng = torch.Generator().manual_seed(0)
        per_class = []
        for c in range(max(mf.config.num_classes, 1)):
            y = torch.tensor([c]) if mf.config.num_classes else None
            z = torch.randn(args.points, mf.config.latent_dim, generator=rng)
            per_class.append(sum(participation_ratio(g, zi[None], y) for zi in z) / args.points)
        line = f"{path}: participation ratio {sum(per_class) / len(per_class):.1f} per class " + (
            " ".join(f"{v:.1f}" for v in per_class)
        )
        embed = mf.generator_state.get("embed.weight")
        if mf.config.arch_args.get("cond_dim", 0) and embed is not None:  # a map of the codes
            with torch.no_grad():
                embed = g.embed(g.code.weight)
        if embed is not None and mf.config.arch_args.get("z_embed", "mul") == "mul":
            kept = (embed.abs() >= 0.1 * embed.abs().amax(1, keepdim=True)).sum(1)
            line += f"; z * embed(y) keeps {kept.tolist()} of {embed.shape[1]} entries"
        print(line)


if __name__ == "__main__":
    main()
