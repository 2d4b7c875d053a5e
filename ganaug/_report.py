"""The evaluation report as a table for people (JSON for machines is ``to_dict``)."""

from __future__ import annotations

from typing import Any

__all__ = ["format_table"]


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
        f"  {'KID x 1e3 (mean +- std)':<28}{_kid(r):>12}",
        f"  {f'precision (k={r.prdc_k})':<28}{_num(r.precision):>12}",
        f"  {f'recall (k={r.prdc_k})':<28}{_num(r.recall):>12}",
        f"  {'density':<28}{_num(r.density):>12}",
        f"  {'coverage':<28}{_num(r.coverage):>12}",
    ]
    if r.classifier_test_accuracy is not None:
        lines.append(f"  {'classifier test accuracy':<28}{_num(r.classifier_test_accuracy):>12}")
    if r.class_accuracy is not None:
        lines.append(f"  {'class accuracy of samples':<28}{_num(r.class_accuracy):>12}")
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
    return f"{r.kid_mean * 1e3:.2f} +- {r.kid_std * 1e3:.2f}"


def _class_header(conditional: bool) -> str:
    head = f"  {'class':<22}{'predicted':>10}"
    return head + (f"{'requested':>11}{'assigned':>10}" if conditional else "")


def _class_row(row: dict[str, Any], conditional: bool) -> str:
    name = f"{row['class']} {row['name']}"[:21]
    text = f"  {name:<22}{row['predicted']:>10}"
    if conditional:
        text += f"{row['requested']:>11}{_num(row['assigned'], '.3f'):>10}"
    return text
