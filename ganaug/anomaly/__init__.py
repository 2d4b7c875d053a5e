"""Anomaly scoring with a trained GAN: outliers and likely mislabels in real data, odd synthetic
rows (f-AnoGAN's encoder and residuals, or the discriminator alone).

:class:`AnomalyScorer` scores; its encoder is fitted once (:meth:`AnomalyScorer.fit`) and
stored in the model file (``encoder.*`` tensors), so later loads score at once.
"""

from .encoder import ENCODER_FORMAT, METHODS, Encoder, EncoderMeta, build_encoder
from .fitting import REFERENCE_POINTS, fit_encoder
from .scorer import AnomalyScorer, Scores

__all__ = [
    "AnomalyScorer",
    "ENCODER_FORMAT",
    "Encoder",
    "EncoderMeta",
    "METHODS",
    "REFERENCE_POINTS",
    "Scores",
    "build_encoder",
    "fit_encoder",
]
