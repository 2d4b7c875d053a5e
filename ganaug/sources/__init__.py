"""Where synthetic images come from: the SampleSource protocol and its implementations.

:class:`Generator` (a model file, loaded with :func:`load`), :class:`FilteredSource` (a quality
filter around a generator) and, in :mod:`ganaug.io`, ``H5Dataset`` (an exported file) all
satisfy :class:`SampleSource`. The model file itself (safetensors + JSON config) is
:func:`save` / :func:`read_model_file`.
"""

from .._images import to_uint8
from .base import (
    GeneratedSource,
    LabelSpec,
    LiveSource,
    SampleSource,
    resolve_labels,
)
from .filtered import FILTER_METHODS, FilteredSource, parse_filter_spec
from .generator import DEFAULT_BATCH, Generator, load
from .labels import parse_label_spec, resolve_label_spec
from .modelfile import BUNDLED, ModelFile, file_sha256, read_model_file, resolve_model_path, save

__all__ = [
    "BUNDLED",
    "DEFAULT_BATCH",
    "FILTER_METHODS",
    "FilteredSource",
    "GeneratedSource",
    "Generator",
    "LabelSpec",
    "LiveSource",
    "ModelFile",
    "SampleSource",
    "file_sha256",
    "load",
    "parse_filter_spec",
    "parse_label_spec",
    "read_model_file",
    "resolve_label_spec",
    "resolve_labels",
    "resolve_model_path",
    "save",
    "to_uint8",
]
