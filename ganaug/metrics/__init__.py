"""How good, and how useful, synthetic data is: distances in a domain feature space, CAS, and
:func:`evaluate`, which measures a model (or an exported file) against real data in one call.

The feature space is a small CNN trained by ganaug on the real data and cached by its
fingerprint (:func:`domain_classifier`), or Inception-v3 for RGB data when its weights are on
disk (nothing is downloaded).
"""

from .classifier import (
    DomainClassifier,
    default_cache_dir,
    domain_classifier,
    extract_features,
    load_classifier,
    predict_proba,
    save_classifier,
    train_domain_classifier,
)
from .distances import (
    class_accuracy,
    classification_accuracy_score,
    frechet_distance,
    frechet_distance_features,
    kernel_distance_features,
    memorisation,
    nearest,
    prdc,
)
from .evaluation import evaluate
from .filters import quality_filter
from .report import EvalReport

__all__ = [
    "DomainClassifier",
    "EvalReport",
    "class_accuracy",
    "classification_accuracy_score",
    "default_cache_dir",
    "domain_classifier",
    "evaluate",
    "extract_features",
    "frechet_distance",
    "frechet_distance_features",
    "kernel_distance_features",
    "load_classifier",
    "memorisation",
    "nearest",
    "prdc",
    "predict_proba",
    "quality_filter",
    "save_classifier",
    "train_domain_classifier",
]
