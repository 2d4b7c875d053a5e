"""The single-file model: round trip, provenance, and every way a file can be wrong."""

from __future__ import annotations

import json
import pickle

import pytest
import torch
from safetensors.torch import save_file

import ganaug
from ganaug.sources import read_model_file

from .conftest import make_model_file


def test_round_trip_gives_equal_outputs(tmp_path):
    torch.manual_seed(1)
    cfg = ganaug.ModelConfig(
        arch="dcgan", image_shape=(1, 28, 28), num_classes=10, class_names=list("abcdefghij")
    )
    g, d = ganaug.create_generator(cfg).eval(), ganaug.create_discriminator(cfg).eval()
    path = ganaug.save(
        tmp_path / "m.safetensors",
        config=cfg,
        generator=g,
        discriminator=d,
        provenance={"steps": 123, "seed": 7, "data_fingerprint": "abc"},
    )
    mf = read_model_file(path)
    assert mf.config == cfg
    assert mf.provenance["steps"] == 123
    assert mf.provenance["ganaug_version"] == ganaug.__version__
    z, y = torch.randn(8, 100), torch.arange(8)
    with torch.no_grad():
        assert torch.equal(mf.build_generator()(z, y), g(z, y))
        x = g(z, y)
        assert torch.equal(mf.build_discriminator()(x, y), d(x, y))
    gen = ganaug.load(path)
    assert gen.class_names == list("abcdefghij") and gen.image_shape == (1, 28, 28)


def test_wrapped_modules_are_saved_unwrapped(tmp_path):
    cfg = ganaug.ModelConfig(arch="mlp", image_shape=(1, 8, 8))
    g = ganaug.create_generator(cfg)

    class Wrapper(torch.nn.Module):  # what DDP / torch.compile put around a module
        def __init__(self, module):
            super().__init__()
            self.module = module

    path = ganaug.save(tmp_path / "w.safetensors", config=cfg, generator=Wrapper(g))
    assert all(not k.startswith("module.") for k in read_model_file(path).generator_state)
    ganaug.load(path)


def test_saving_nan_weights_is_refused_and_leaves_nothing(tmp_path):
    cfg = ganaug.ModelConfig(arch="mlp", image_shape=(1, 8, 8))
    g = ganaug.create_generator(cfg)
    with torch.no_grad():
        next(g.parameters()).fill_(float("nan"))
    with pytest.raises(ValueError, match="non-finite"):
        ganaug.save(tmp_path / "nan.safetensors", config=cfg, generator=g)
    assert list(tmp_path.iterdir()) == []


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no model file at"):
        ganaug.load(tmp_path / "nope.safetensors")


def test_directory_instead_of_file(tmp_path):
    with pytest.raises(IsADirectoryError, match="expected a .safetensors model file"):
        ganaug.load(tmp_path)


@pytest.mark.parametrize("keep", [0, 7, 100, 5000])
def test_truncated_file(tmp_path, cond_model_path, keep):
    bad = tmp_path / "trunc.safetensors"
    bad.write_bytes(cond_model_path.read_bytes()[:keep])
    with pytest.raises(ValueError, match=r"not a readable safetensors file.*truncated or corrupt"):
        ganaug.load(bad)


def test_corrupt_header(tmp_path, cond_model_path):
    data = bytearray(cond_model_path.read_bytes())
    data[8:40] = b"\xff" * 32  # garbage inside the JSON header
    bad = tmp_path / "corrupt.safetensors"
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="not a readable safetensors file"):
        ganaug.load(bad)


def test_foreign_safetensors_file(tmp_path):
    path = tmp_path / "foreign.safetensors"
    save_file({"weight": torch.zeros(3)}, str(path), metadata={"format": "pt"})
    with pytest.raises(
        ValueError,
        match=r"not a ganaug model: expected metadata format="
        r"'ganaug-model', found 'pt'",
    ):
        ganaug.load(path)


@pytest.mark.parametrize("kind", ["torch.save", "pickle"])
def test_pickle_files_are_refused_without_unpickling(tmp_path, kind):
    path = tmp_path / "model.pt"
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    if kind == "torch.save":
        torch.save({"state": torch.zeros(2)}, path)
    else:
        path.write_bytes(pickle.dumps(Evil()))
    with pytest.raises(ValueError, match="never unpickles"):
        ganaug.load(path)
    assert not marker.exists()


def _with_config(path, source, config: dict) -> None:
    """Write ``source``'s generator weights to ``path`` under a hand-made ganaug config."""
    save_file(
        {f"generator.{k}": v for k, v in read_model_file(source).generator_state.items()},
        str(path),
        metadata={
            "format": "ganaug-model",
            "format_version": "1",
            "config": json.dumps(config),
            "provenance": "{}",
        },
    )


def test_unknown_arch_in_file(tmp_path, cond_model_path):
    path = tmp_path / "arch.safetensors"
    config = read_model_file(cond_model_path).config.to_dict() | {"arch": "biggan"}
    _with_config(path, cond_model_path, config)
    with pytest.raises(ValueError, match="unknown architecture 'biggan'"):
        ganaug.load(path)


def test_unknown_arch_args_in_file_names_the_file(tmp_path, cond_model_path):
    config = read_model_file(cond_model_path).config.to_dict()
    config["arch_args"] = {**config["arch_args"], "width": 32}  # what older ganaug ignored
    path = tmp_path / "old.safetensors"
    _with_config(path, cond_model_path, config)
    with pytest.raises(
        ValueError, match=r"old\.safetensors has a ganaug config this version.*'width'"
    ):
        ganaug.load(path)


def test_weights_not_matching_config(tmp_path):
    small = make_model_file(tmp_path / "a.safetensors", arch="dcgan", g_width=32)
    path = tmp_path / "b.safetensors"
    _with_config(
        path, small, read_model_file(small).config.to_dict() | {"arch_args": {"g_width": 64}}
    )
    with pytest.raises(ValueError, match="do not match the architecture"):
        ganaug.load(path)


def test_save_is_byte_reproducible(tmp_path):
    a = make_model_file(tmp_path / "a.safetensors", seed=3)
    b = make_model_file(tmp_path / "b.safetensors", seed=3)
    assert a.read_bytes() == b.read_bytes()


def test_nan_weights_in_a_file_are_refused_at_load_naming_the_tensor(tmp_path, cond_model_path):
    state = read_model_file(cond_model_path).generator_state
    name = sorted(k for k, v in state.items() if v.is_floating_point())[0]
    bad = {f"generator.{k}": v.clone() for k, v in state.items()}
    bad[f"generator.{name}"].view(-1)[0] = float("nan")
    path = tmp_path / "nan.safetensors"
    config = read_model_file(cond_model_path).config.to_dict()
    save_file(
        bad,
        str(path),
        metadata={
            "format": "ganaug-model",
            "format_version": "1",
            "config": json.dumps(config),
            "provenance": "{}",
        },
    )
    with pytest.raises(ValueError, match=rf"generator\.{name} holds NaN or inf"):
        read_model_file(path)  # refused before any module is built or sampled


def test_shape_mismatch_is_found_when_reading_the_file(tmp_path):
    small = make_model_file(tmp_path / "a.safetensors", arch="dcgan", g_width=32)
    path = tmp_path / "b.safetensors"
    _with_config(
        path, small, read_model_file(small).config.to_dict() | {"arch_args": {"g_width": 64}}
    )
    with pytest.raises(ValueError, match=r"b\.safetensors: the generator tensors do not match"):
        read_model_file(path)  # what `ganaug info` reads: no silent pass


def test_files_with_the_old_normalization_field_still_load(tmp_path, cond_model_path):
    config = read_model_file(cond_model_path).config.to_dict()
    assert "normalization" not in config  # the field is gone (it never varied)
    path = tmp_path / "old.safetensors"
    _with_config(path, cond_model_path, config | {"normalization": {"mean": 0.5, "std": 0.5}})
    assert read_model_file(path).config.to_dict() == config
    assert ganaug.load("fashion-mnist").num_classes == 10  # the bundled file records it too
