"""What an evaluation measured: ``EvalReport``, as JSON for machines and a table for people."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["EvalReport", "format_table"]


@dataclass
class EvalReport:
    """What :func:`evaluate` measured. ``None`` marks a measure that was not asked for or does
    not apply (for example CAS of an unconditional model)."""

    source: str
    data: str
    n: int
    n_real: int
    seed: int
    feature_space: str
    conditional: bool
    fd: float | None = None
    kid_mean: float | None = None
    kid_std: float | None = None
    precision: float | None = None
    recall: float | None = None
    density: float | None = None
    coverage: float | None = None
    prdc_k: int = 5
    class_accuracy: float | None = None
    class_recall: float | None = None  # the mean over classes of the within-class recall
    class_coverage: float | None = None  # and coverage (class c's samples vs its real images)
    classifier_test_accuracy: float | None = None
    classes: list[dict[str, Any]] = field(default_factory=list)
    copy_rate: float | None = None  # samples nearer a training image than 1% of held-out ones
    copy_threshold: float | None = None  # that distance: the 1st percentile of held-out images
    nn_ratio: float | None = None  # median nearest-training distance, samples / held-out
    n_held_out: int | None = None
    cas: float | None = None
    cas_real_baseline: float | None = None
    cas_n: int | None = None
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict of every field."""
        return asdict(self)

    def table(self) -> str:
        """The report as aligned text for people."""
        return format_table(self)


def _num(x: float | None, fmt: str = ".4f") -> str:
    return "n/a" if x is None else format(x, fmt)


def format_table(report: Any) -> str:
    """Aligned text: the headline measures, then one row per class."""
    r = report
    lines = [
        f"ganaug eval: {r.source}",
        f"  real data      {r.data}",
        f"  feature space  {r.feature_space}",
        f"  N              {r.n} synthetic, {r.n_real} real (seed {r.seed})",
        "",
        f"  {'measure':<28}{'value':>12}",
        f"  {'FD (lower is better)':<28}{_num(r.fd, '.3f'):>12}",
        f"  {'KID (mean +- std)':<28}{_kid(r):>12}",
        f"  {f'precision (k={r.prdc_k})':<28}{_num(r.precision):>12}",
        f"  {f'recall (k={r.prdc_k})':<28}{_num(r.recall):>12}",
        f"  {'density':<28}{_num(r.density):>12}",
        f"  {'coverage':<28}{_num(r.coverage):>12}",
    ]
    if r.classifier_test_accuracy is not None:
        lines.append(f"  {'classifier test accuracy':<28}{_num(r.classifier_test_accuracy):>12}")
    if r.class_accuracy is not None:
        lines.append(f"  {'class accuracy of samples':<28}{_num(r.class_accuracy):>12}")
    if r.class_recall is not None:
        lines.append(f"  {'within-class recall':<28}{_num(r.class_recall):>12}")
        lines.append(f"  {'within-class coverage':<28}{_num(r.class_coverage):>12}")
    if r.copy_rate is not None:
        lines.append(f"  {'copy rate (real: 0.01)':<28}{_num(r.copy_rate):>12}")
        lines.append(f"  {'NN distance ratio (real: 1)':<28}{_num(r.nn_ratio, '.3f'):>12}")
    if r.cas is not None:
        lines.append(f"  {f'CAS (n={r.cas_n})':<28}{_num(r.cas):>12}")
        lines.append(f"  {'  same on real images':<28}{_num(r.cas_real_baseline):>12}")
    if r.classes:
        lines += ["", _class_header(r.conditional)]
        lines += [_class_row(row, r.conditional) for row in r.classes]
    lines += [f"  note: {note}" for note in r.notes]
    return "\n".join(lines)


def _kid(r: Any) -> str:
    if r.kid_mean is None:
        return "n/a"
    return f"{r.kid_mean:.4g} +- {r.kid_std:.2g}"  # as in the JSON, in the features' units


def _class_header(conditional: bool) -> str:
    head = f"  {'class':<22}{'predicted':>10}"
    return head + (
        f"{'requested':>11}{'assigned':>10}{'recall':>8}{'coverage':>10}" if conditional else ""
    )


def _class_row(row: dict[str, Any], conditional: bool) -> str:
    name = f"{row['class']} {row['name']}"[:21]
    text = f"  {name:<22}{row['predicted']:>10}"
    if conditional:
        text += f"{row['requested']:>11}{_num(row['assigned'], '.3f'):>10}"
        text += f"{_num(row.get('recall'), '.3f'):>8}{_num(row.get('coverage'), '.3f'):>10}"
    return text
