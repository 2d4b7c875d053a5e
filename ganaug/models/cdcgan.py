"""Class-conditional DCGAN with multiplicative label conditioning (``cdcgan``).

The generator multiplies z by a learned label embedding (``z * embed(y)``, the embedding as wide
as z) before a linear stem, so the label scales every latent direction instead of adding 50
columns to a concatenated input; ``cond_bn`` (on by default; ``false`` for plain BatchNorm) also
gives every BatchNorm a per-class gain and bias (conditional BatchNorm). On Fashion-MNIST it
reached a higher recall at half the steps of plain BatchNorm (benchmarks/RESULTS.md).
``z_embed`` says how the label meets z: ``"mul"`` as above, ``"concat"`` feeds ``[z,
embed(y)]`` to the stem, ``"none"`` gives the label to conditional BatchNorm only. The trained
``"mul"`` embedding of the session-5 bundled model keeps 6-9 of z's 100 directions per class
(the others scaled below a tenth of the largest), which caps the spread a class can have.
``cond_dim`` > 0 shares the conditioning across classes (BigGAN's shared embedding): each class
is one ``cond_dim``-wide code, and every per-class table above (the z embedding and each
BatchNorm's gain and bias) becomes a linear map of that code, learned from all classes. A class
then owns ``cond_dim`` numbers instead of thousands, so one with a few dozen images borrows the
maps the large classes trained. 0 (the default) keeps a free table per class: on the imbalance
benchmark, 4 pulled the rare classes toward their neighbours (benchmarks/RESULTS.md, session 25).
``out_width`` > 0 gives the full resolution ``out_width`` channels of its own (a transposed
convolution to them, BatchNorm, ReLU, then a 3x3 convolution to the image) instead of one
transposed convolution straight to the image.

In eval mode (sampling, the EMA copy) every BatchNorm is one affine map per class: the running
statistics and the class's gain and bias fold into a scale and a shift, applied with ReLU in one
in-place pass, and the feature maps are channels-last. The same function as the training graph
(equal in fp32 to rounding), about 3x faster on a CPU in bf16 (benchmarks/RESULTS.md);
``CDCGANGenerator.fast_eval = False`` turns it off.

The discriminator is ``dcgan``'s: stride-2 4x4 convolutions
(width, 2 x width, ...), LeakyReLU(0.2) and a projection head. Sizes follow ``dcgan.plan``: a
28 x 28 image starts from a 7 x 7 map of ``2 x g_width`` channels; 8 x 8 from 4 x 4.
"""

from __future__ import annotations

import torch
from torch import nn

from ._registry import ModelConfig, register_arch
from .dcgan import DCGAN, DISCRIMINATOR_ARGS, center_crop, plan

Z_EMBEDS = ("mul", "concat", "none")


class ConditionalBN(nn.Module):
    """BatchNorm whose affine gain and bias come from the label (1 + gamma(y), beta(y)).

    The gain and bias are a per-class table, or with ``code_dim`` > 0 a linear map of the
    class's shared code (the generator's ``cond_dim``). Without labels (an unconditional
    model) it is a plain affine BatchNorm.
    """

    def __init__(self, features: int, num_classes: int, dims: int, code_dim: int = 0) -> None:
        super().__init__()
        cls = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
        self.bn = cls(features, affine=num_classes == 0)
        self.embed = self.proj = None
        if num_classes > 0 and code_dim > 0:
            self.proj = nn.Linear(code_dim, 2 * features)
            nn.init.zeros_(self.proj.weight)
            nn.init.zeros_(self.proj.bias)
        elif num_classes > 0:
            self.embed = nn.Embedding(num_classes, 2 * features)
            nn.init.zeros_(self.embed.weight)

    @property
    def labelled(self) -> bool:
        """Whether the gain and bias depend on the label (False: a plain affine BatchNorm)."""
        return self.embed is not None or self.proj is not None

    def table(self, codes: torch.Tensor | None) -> torch.Tensor:
        """(classes, 2 x features): every class's gamma and beta (``codes``: every class's
        shared code when ``code_dim`` > 0)."""
        if self.proj is None:
            return self.embed.weight
        if codes is None:
            raise ValueError("this BatchNorm maps shared class codes: expected codes, got None")
        return self.proj(codes)

    def forward(
        self, h: torch.Tensor, y: torch.Tensor | None, codes: torch.Tensor | None = None
    ) -> torch.Tensor:
        h = self.bn(h)
        if not self.labelled:
            return h
        affine = self.embed(y) if self.proj is None else self.table(codes)[y]
        gamma, beta = affine.chunk(2, dim=1)
        shape = (h.shape[0], -1) + (1,) * (h.dim() - 2)
        return h * (1.0 + gamma.view(shape)) + beta.view(shape)


def _folded(
    norm: nn.Module, y: torch.Tensor | None, dtype: torch.dtype, codes: torch.Tensor | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Eval mode: (scale, shift) in ``dtype`` with ``norm(h, y) = h * scale + shift`` row by
    row: the running statistics and the label's gain and bias (or BatchNorm's affine) in one;
    (rows, features) gathered from per-class tables, or (1, features) for plain BatchNorm.
    ``codes``: every class's shared code (``cond_dim`` > 0), else None."""
    conditional = isinstance(norm, ConditionalBN) and norm.labelled
    bn = norm.bn if isinstance(norm, ConditionalBN) else norm
    inv = torch.rsqrt(bn.running_var + bn.eps)
    if conditional:
        gamma, beta = norm.table(codes).chunk(2, dim=1)
        scale = (1.0 + gamma) * inv
        table = torch.stack([scale, beta - bn.running_mean * scale]).to(dtype)
        return table[0][y], table[1][y]
    if bn.affine:
        scale = bn.weight * inv
        shift = bn.bias - bn.running_mean * scale
    else:
        scale, shift = inv, -bn.running_mean * inv
    return scale.to(dtype)[None], shift.to(dtype)[None]


def _norm(features: int, bn_classes: int, dims: int, code_dim: int) -> nn.Module:
    """Conditional BatchNorm over ``bn_classes`` classes, or plain BatchNorm when 0."""
    if bn_classes:
        return ConditionalBN(features, bn_classes, dims, code_dim)
    return nn.BatchNorm1d(features) if dims == 1 else nn.BatchNorm2d(features)


class CDCGANGenerator(nn.Module):
    fast_eval = True  # eval mode folds BatchNorm (module docstring); False: the training graph

    def __init__(
        self,
        *,
        latent_dim: int,
        image_shape: tuple[int, int, int],
        num_classes: int,
        width: int = 64,
        cond_bn: bool = True,
        z_embed: str = "mul",
        out_width: int = 0,
        cond_dim: int = 0,
    ) -> None:
        super().__init__()
        if z_embed not in Z_EMBEDS:
            raise ValueError(f"expected z_embed one of {Z_EMBEDS}, got {z_embed!r}")
        if cond_dim < 0:
            raise ValueError(f"expected cond_dim >= 0 (0 = a table per class), got {cond_dim}")
        c, self.height, self.width = image_shape
        n_up, self.h0, self.w0 = plan(self.height, self.width)
        self.ch0 = width * 2 ** (n_up - 1)
        self.conditional = num_classes > 0
        bn_classes = num_classes if cond_bn else 0
        if self.conditional and z_embed == "none" and not bn_classes:
            raise ValueError(
                'z_embed "none" gives the label to conditional BatchNorm only: it '
                "needs cond_bn true"
            )
        self.z_embed = z_embed if self.conditional else "none"
        code_dim = cond_dim if self.conditional else 0
        # the shared class codes (cond_dim > 0): N(0, 1) draws, so classes start apart
        self.code = nn.Embedding(num_classes, code_dim) if code_dim else None
        if self.z_embed in ("mul", "concat"):
            self.embed = (
                nn.Linear(code_dim, latent_dim)
                if code_dim
                else nn.Embedding(num_classes, latent_dim)
            )
        else:
            self.embed = None
        n0 = self.ch0 * self.h0 * self.w0
        n_in = 2 * latent_dim if self.z_embed == "concat" else latent_dim
        self.stem = nn.Linear(n_in, n0, bias=False)
        self.stem_bn = _norm(n0, bn_classes, 1, code_dim)
        self.ups = nn.ModuleList()
        self.bns = nn.ModuleList()
        ch = self.ch0
        for _ in range(n_up - 1):
            self.ups.append(nn.ConvTranspose2d(ch, ch // 2, 4, 2, 1, bias=False))
            self.bns.append(_norm(ch // 2, bn_classes, 2, code_dim))
            ch //= 2
        self.cond_bn = bool(bn_classes)
        if out_width > 0:  # full resolution gets its own channels, then a 3x3 conv to the image
            self.last = nn.ConvTranspose2d(ch, out_width, 4, 2, 1, bias=False)
            self.last_bn = _norm(out_width, bn_classes, 2, code_dim)
            self.out = nn.Conv2d(out_width, c, 3, 1, 1)
        else:
            self.last = self.last_bn = None
            self.out = nn.ConvTranspose2d(ch, c, 4, 2, 1)

    @property
    def _folding(self) -> bool:
        return self.fast_eval and not self.training

    def _bn(
        self, bn: nn.Module, h: torch.Tensor, y: torch.Tensor | None, codes: torch.Tensor | None
    ) -> torch.Tensor:
        """ReLU(BatchNorm(h)); ``codes``: every class's shared code (None without cond_dim)."""
        if not self._folding:
            return torch.relu(bn(h, y, codes) if self.cond_bn else bn(h))
        scale, shift = _folded(bn, y, h.dtype, codes)
        shape = (scale.shape[0], -1) + (1,) * (h.dim() - 2)
        return torch.addcmul(shift.view(shape), h, scale.view(shape)).relu_()

    def forward(self, z: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.conditional and y is None:
            raise ValueError("this model is class-conditional: expected labels y, got None")
        codes = None if self.code is None else self.code.weight  # every class's shared code
        if self.z_embed != "none":
            e = self.embed(y) if codes is None else self.embed(codes)[y]
            z = z * e if self.z_embed == "mul" else torch.cat([z, e], dim=1)
        h = self._bn(self.stem_bn, self.stem(z), y, codes)
        h = h.view(h.shape[0], self.ch0, self.h0, self.w0)
        if self._folding:
            h = h.contiguous(memory_format=torch.channels_last)
        for up, bn in zip(self.ups, self.bns, strict=True):
            h = self._bn(bn, up(h), y, codes)
        if self.last is not None:
            h = self._bn(self.last_bn, self.last(h), y, codes)
        x = torch.tanh(self.out(h))  # (B, C, h0 * 2**n, w0 * 2**n), at least (H, W)
        return center_crop(x, self.height, self.width).contiguous()


@register_arch("cdcgan")
class CDCGAN:
    ARCH_ARGS = ("g_width", "cond_bn", "z_embed", "out_width", "cond_dim", *DISCRIMINATOR_ARGS)
    # Defaults of new models, written into every file they train to. A file without a key was
    # trained before the key existed and is built with the fallback below (d_extra: DCGAN's).
    RECORDED = {"cond_bn": True, "z_embed": "mul", "out_width": 32, "d_extra": 2}

    @staticmethod
    def generator(cfg: ModelConfig) -> nn.Module:
        a = cfg.arch_args
        return CDCGANGenerator(
            latent_dim=cfg.latent_dim,
            image_shape=cfg.image_shape,
            num_classes=cfg.num_classes,
            width=int(a.get("g_width", 64)),
            cond_bn=bool(a.get("cond_bn", True)),
            z_embed=str(a.get("z_embed", "mul")),
            out_width=int(a.get("out_width", 0)),
            cond_dim=int(a.get("cond_dim", 0)),
        )

    discriminator = DCGAN.discriminator  # the same projection D
