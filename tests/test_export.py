"""``ganaug.export`` / ``ganaug export``: layout, determinism, crash safety, resume, sharding."""

from __future__ import annotations

import json
import os
import pickle
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

import ganaug
from ganaug.cli import build_parser
from ganaug.cli import export as export_cli
from ganaug.io import default_chunk_rows, shard_path


def ganaug_cli(*args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "ganaug", *args],
        capture_output=True,
        text=True,
        timeout=300,
        **kwargs,
    )


def export_args(model: Path, n: int, out: Path, *extra: str) -> list[str]:
    """``ganaug export`` arguments for a CPU run."""
    return [
        "export",
        "--model",
        str(model),
        "--n",
        str(n),
        "--out",
        str(out),
        "--device",
        "cpu",
        *extra,
    ]


def content(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as f:
        return {k: f[k][:] for k in ("images", "labels", "seeds")}


def assert_same_content(a: Path, b: Path) -> None:
    ca, cb = content(a), content(b)
    for key in ca:
        np.testing.assert_array_equal(ca[key], cb[key], err_msg=key)


@pytest.fixture(scope="module")
def gen(cond_model_path):
    return ganaug.load(cond_model_path)


def test_round_trip_equals_sample_and_layout(tmp_path, gen, cond_model_path):
    out = ganaug.export(
        gen, tmp_path / "s.h5", 300, seed=3, batch_size=128, progress=False, device="cpu"
    )
    images, labels = gen.sample(300, labels="balanced", seed=3, batch_size=100)
    with h5py.File(out, "r") as f:  # plain h5py reads it
        assert f["images"].shape == (300, 28, 28, 1) and f["images"].dtype == np.uint8
        assert f["labels"].dtype == np.int64 and f["seeds"].dtype == np.int64
        np.testing.assert_array_equal(f["images"][:], images.permute(0, 2, 3, 1).numpy())
        np.testing.assert_array_equal(f["labels"][:], labels.numpy())
        np.testing.assert_array_equal(f["seeds"][:], np.arange(300))
        a = f.attrs
        assert a["format"] == "ganaug-samples" and a["complete"] and a["seed"] == 3
        assert a["model_sha256"] == ganaug.sources.file_sha256(cond_model_path)
        assert json.loads(a["model_config"])["arch"] == "dcgan"
        assert json.loads(a["class_names"]) == gen.class_names
        assert a["ganaug_version"] == ganaug.__version__ and a["labels"] == "balanced"
        assert f["images"].chunks[0] == default_chunk_rows((1, 28, 28))
        assert f["images"].compression == "gzip"
    assert not (tmp_path / "s.h5.partial").exists()
    # a row regenerates from its stored seed index, as the format documents
    row = 123
    x1, _ = gen.sample(1, labels=[int(labels[row])], seed=3, start=row)
    assert torch.equal(x1[0], images[row])


class NoiseSource:
    """A SampleSource of incompressible rows (row i is a pure function of (seed, i)), so lzf
    stores chunks unfiltered (HDF5 marks them in the chunk's filter mask)."""

    image_shape, num_classes, class_names = (1, 28, 28), 0, []
    sha256, config = "", {}

    def sample(self, n, labels=None, seed=0, *, start=0, batch_size=None, device=None, **_):
        rng = [np.random.default_rng([seed, i]) for i in range(start, start + n)]
        x = np.stack([r.integers(0, 256, (1, 28, 28), dtype=np.uint8) for r in rng])
        return torch.from_numpy(x), torch.full((n,), -1)


@pytest.mark.parametrize("compression", ["gzip", "lzf", "none"])
def test_incompressible_rows_round_trip_joined_from_memory_and_from_disk(
    tmp_path, monkeypatch, compression
):
    src, out = NoiseSource(), tmp_path / "noise.h5"
    opts = {"seed": 4, "batch_size": 64, "device": "cpu", "compression": compression}
    ganaug.export(src, out, 200, progress=False, **opts)  # joined from the writer's memory
    expect = src.sample(200, seed=4)[0].permute(0, 2, 3, 1).numpy()
    np.testing.assert_array_equal(content(out)["images"], expect)
    if compression == "lzf":
        with h5py.File(out, "r") as f:
            assert f["images"].id.read_direct_chunk((0, 0, 0, 0))[0] != 0  # stored unfiltered
    # the same rows joined from the segment files: the first run stops before its join
    export_module = sys.modules["ganaug.io.exporter"]
    join = export_module.join_segments

    def stop(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(export_module, "join_segments", stop)
    with pytest.raises(KeyboardInterrupt):
        ganaug.export(src, tmp_path / "again.h5", 200, progress=False, **opts)
    assert len(list((tmp_path / "again.h5.partial").glob("seg-*.h5"))) == 4
    monkeypatch.setattr(export_module, "join_segments", join)
    ganaug.export(src, tmp_path / "again.h5", 200, progress=False, resume=True, **opts)
    assert (tmp_path / "again.h5").read_bytes() == out.read_bytes()


def test_join_from_memory_and_past_the_memory_limit_give_the_same_file(tmp_path, monkeypatch):
    import ganaug.io.segments as writer_module

    src, export_module = NoiseSource(), sys.modules["ganaug.io.exporter"]
    opts = {"seed": 5, "batch_size": 64, "device": "cpu", "progress": False}
    read_segment = writer_module._read_segment

    def no_disk_reads(*args):
        raise AssertionError("the join read a segment back although it was in memory")

    monkeypatch.setattr(writer_module, "_read_segment", no_disk_reads)
    ganaug.export(src, tmp_path / "mem.h5", 300, **opts)
    monkeypatch.setattr(writer_module, "_read_segment", read_segment)

    class SmallMemory(writer_module.SegmentWriter):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **{**kwargs, "keep_bytes": 20_000})  # < 1 segment (50 KB)

    monkeypatch.setattr(export_module, "SegmentWriter", SmallMemory)
    ganaug.export(src, tmp_path / "disk.h5", 300, **opts)
    assert (tmp_path / "disk.h5").read_bytes() == (tmp_path / "mem.h5").read_bytes()


@pytest.mark.parametrize("compression", ["lzf", "none"])
def test_unconditional_and_other_compressions(tmp_path, uncond_model_path, compression):
    g = ganaug.load(uncond_model_path)
    out = ganaug.export(
        g,
        tmp_path / "u.h5",
        70,
        seed=1,
        batch_size=64,
        device="cpu",
        compression=compression,
        progress=False,
    )
    x, _ = g.sample(70, seed=1)
    c = content(out)
    np.testing.assert_array_equal(c["images"], x.permute(0, 2, 3, 1).numpy())
    assert (c["labels"] == -1).all()
    with h5py.File(out, "r") as f:
        assert f["images"].compression == (None if compression == "none" else compression)
        assert f.attrs["num_classes"] == 0


def test_label_counts_by_index_and_name(tmp_path, gen):
    a = ganaug.export(
        gen, tmp_path / "a.h5", labels={0: 40, "3": 0, 7: 24}, seed=5, device="cpu", progress=False
    )
    labels = content(a)["labels"]
    assert len(labels) == 64 and (labels == 0).sum() == 40 and (labels == 7).sum() == 24
    assert 0 < (labels[:32] == 7).sum() < 24  # shuffled, not sorted by class
    named = ganaug.export(
        gen, tmp_path / "b.h5", 64, labels={"0": 40, "7": 24}, seed=5, device="cpu", progress=False
    )
    assert_same_content(a, named)


def test_cli_export_refuses_overwrite_and_is_idempotent(tmp_path, cond_model_path):
    out = tmp_path / "cli.h5"
    base = export_args(cond_model_path, 130, out, "--batch-size", "64", "--labels", "0:100,9:30")
    r = ganaug_cli(*base)
    assert r.returncode == 0, r.stderr
    first = out.read_bytes()
    r = ganaug_cli(*base[:-2], "--labels", "uniform")  # another command, same OUT
    assert r.returncode == 2 and "already exists" in r.stderr and "--overwrite" in r.stderr
    assert out.read_bytes() == first
    r = ganaug_cli(*base)  # the same command again: already complete, nothing to do
    assert r.returncode == 0, r.stderr
    assert out.read_bytes() == first
    r = ganaug_cli(*base[:-2], "--labels", "uniform", "--overwrite", "--compression", "lzf")
    assert r.returncode == 0, r.stderr
    with h5py.File(out, "r") as f:
        assert f.attrs["labels"] == "uniform" and f["images"].compression == "lzf"


def _wait_for(pred, proc, timeout=120.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.002)
    raise TimeoutError("the export did not reach the kill point")


def _assert_never_complete_looking(out: Path) -> None:
    """After a kill, OUT is absent or a complete, valid export: never half-written."""
    if out.exists():
        ds = ganaug.H5Dataset(out)
        assert ds.attrs["complete"] and len(ds) == ds.attrs["n"]


def test_sigkill_at_several_points_then_resume_gives_identical_file(tmp_path, gen, cond_model_path):
    out = tmp_path / "k.h5"
    work = tmp_path / "k.h5.partial"
    cmd = [
        sys.executable,
        "-m",
        "ganaug",
        *export_args(cond_model_path, 1000, out, "--batch-size", "64", "--seed", "7"),
    ]

    def segments() -> int:
        return len(list(work.glob("seg-*.h5"))) if work.exists() else 0

    kill_points = [
        lambda: segments() >= 1,  # early
        lambda: segments() >= 9,  # mid-way (after resuming)
        lambda: (work / "final.h5.tmp").exists() or out.exists(),  # while joining segments
    ]
    for k, point in enumerate(kill_points):
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        reached = _wait_for(point, proc)
        if k == 0 and reached:  # a second writer of the same export is turned away
            with pytest.raises(OSError, match="another process is writing"):
                ganaug.export(gen, out, 1000, seed=7, batch_size=64, device="cpu", progress=False)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert reached or proc.returncode == 0, proc.stderr.read().decode()
        _assert_never_complete_looking(out)
        assert out.exists() or work.exists()
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert not work.exists()
    reference = ganaug.export(
        gen, tmp_path / "ref.h5", 1000, seed=7, batch_size=64, device="cpu", progress=False
    )
    assert out.read_bytes() == reference.read_bytes()  # same command, same bytes


def _limit_file_size(limit: int):
    def preexec() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return preexec


def test_disk_full_gives_clear_error_and_a_resumable_partial(tmp_path, gen, cond_model_path):
    out = tmp_path / "full.h5"
    cmd = export_args(cond_model_path, 640, out, "--batch-size", "128", "--compression", "none")
    # every 128-row segment (~100 KB) fits, the joined 640-row file (~500 KB) does not
    r = ganaug_cli(*cmd, preexec_fn=_limit_file_size(300_000))
    assert r.returncode == 2, r.stderr
    assert "could not write" in r.stderr and "run the same command again" in r.stderr
    assert not out.exists()
    assert len(list((tmp_path / "full.h5.partial").glob("seg-*.h5"))) == 5
    r = ganaug_cli(*cmd)  # space is back: the same command finishes from the segments
    assert r.returncode == 0, r.stderr
    reference = ganaug.export(
        gen,
        tmp_path / "ref.h5",
        640,
        batch_size=640,
        device="cpu",
        compression="none",
        progress=False,
    )
    assert_same_content(out, reference)


def test_write_failure_mid_run_keeps_finished_segments(tmp_path, cond_model_path):
    out = tmp_path / "w.h5"
    cmd = export_args(cond_model_path, 640, out, "--batch-size", "128", "--compression", "none")
    r = ganaug_cli(*cmd, preexec_fn=_limit_file_size(50_000))  # no segment fits
    assert r.returncode == 2 and "could not write rows 0..127" in r.stderr, r.stderr
    work = tmp_path / "w.h5.partial"
    assert work.is_dir() and not list(work.glob("seg-*")) and not out.exists()
    r = ganaug_cli(*cmd, "--resume")
    assert r.returncode == 0, r.stderr
    assert ganaug.H5Dataset(out).attrs["complete"]


def test_sharded_torchrun_equals_single_process_and_missing_shard_fails(
    tmp_path, gen, cond_model_path
):
    out = tmp_path / "sh" / "s.h5"
    out.parent.mkdir()
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            "-m",
            "ganaug",
            "export",
            "--model",
            str(cond_model_path),
            "-n",
            "300",
            "--out",
            str(out),
            "--batch-size",
            "64",
            "--device",
            "cpu",
            "--seed",
            "2",
            "--no-progress",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    shards = [shard_path(out, rank, 2) for rank in range(2)]
    assert all(s.exists() for s in shards)
    single = ganaug.export(gen, tmp_path / "single.h5", 300, seed=2, device="cpu", progress=False)
    assert_same_content(out, single)
    ds = ganaug.H5Dataset(out, output="numpy")
    assert [s["file"] for s in ds.attrs["shards"]] == [s.name for s in shards]
    assert len(ds) == 300 and (ds.targets.numpy() == content(single)["labels"]).all()
    moved = out.parent.parent / "elsewhere"
    moved.mkdir()
    os.replace(shards[1], moved / shards[1].name)  # the index keeps only relative paths
    with pytest.raises(ValueError, match="is missing"):
        ganaug.H5Dataset(out)
    with pytest.raises(ValueError, match="is missing"):  # a worker's lazy open checks again
        pickle.loads(pickle.dumps(ds))[0]
    os.replace(out.parent, tmp_path / "renamed")  # the whole set moves as one folder
    os.replace(moved / shards[1].name, tmp_path / "renamed" / shards[1].name)
    assert_same_content(tmp_path / "renamed" / "s.h5", single)


def test_different_command_against_partial_is_an_error(tmp_path, gen):
    out = tmp_path / "p.h5"
    work = tmp_path / "p.h5.partial"
    work.mkdir()
    (work / "job.json").write_text(json.dumps({"seed": 99, "n": 10}))
    with pytest.raises(ValueError, match="unfinished export of another command"):
        ganaug.export(gen, out, 64, device="cpu", progress=False)
    ganaug.export(gen, out, 64, device="cpu", progress=False, overwrite=True)
    assert len(ganaug.H5Dataset(out)) == 64 and not work.exists()


def test_folder_left_by_a_kill_during_creation_is_started_afresh(tmp_path, gen):
    out = tmp_path / "e.h5"
    (tmp_path / "e.h5.partial").mkdir()
    (tmp_path / "e.h5.partial" / "job.json.tmp").write_text("{")
    ganaug.export(gen, out, 64, device="cpu", progress=False)
    assert len(ganaug.H5Dataset(out)) == 64


def test_truncated_segment_on_resume_is_an_error(tmp_path, gen, cond_model_path):
    out = tmp_path / "t.h5"
    cmd = export_args(cond_model_path, 256, out, "--batch-size", "64", "--compression", "none")
    r = ganaug_cli(*cmd, preexec_fn=_limit_file_size(150_000))  # segments land, join fails
    assert r.returncode == 2
    seg = sorted((tmp_path / "t.h5.partial").glob("seg-*.h5"))[1]
    seg.write_bytes(seg.read_bytes()[:1000])
    with pytest.raises(ValueError, match="unreadable"):
        ganaug.export(
            gen,
            out,
            256,
            batch_size=64,
            device="cpu",
            compression="none",
            progress=False,
            resume=True,
        )


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"n": 0}, ValueError, "expected n > 0"),
        ({"n": -5}, ValueError, "expected n > 0"),
        ({"n": 10, "labels": "12:5"}, ValueError, "names class 12"),
        ({"n": 10, "labels": {"Boot": 10}}, ValueError, "names class 'Boot'"),
        ({"n": 10, "labels": {0: 4}}, ValueError, "sum to 4 but n is 10"),
        ({"n": 10, "compression": "zstd"}, ValueError, "expected compression"),
        ({"n": 10, "batch_size": 0}, ValueError, "expected batch_size > 0"),
    ],
)
def test_bad_arguments(tmp_path, gen, kwargs, error, message):
    n = kwargs.pop("n")
    with pytest.raises(error, match=message):
        ganaug.export(gen, tmp_path / "x.h5", n, device="cpu", progress=False, **kwargs)
    assert not (tmp_path / "x.h5").exists()


def test_bad_paths_and_models(tmp_path, gen):
    blocker = tmp_path / "file.txt"
    blocker.write_text("not a folder")
    with pytest.raises(OSError, match="cannot write the export"):
        ganaug.export(gen, blocker / "x.h5", 10, device="cpu", progress=False)
    with pytest.raises(OSError):
        ganaug.export(gen, "/proc/ganaug-test/x.h5", 10, device="cpu", progress=False)
    with pytest.raises(IsADirectoryError):
        ganaug.export(gen, tmp_path, 10, device="cpu", progress=False)
    with pytest.raises(FileNotFoundError, match="no model file"):
        ganaug.export(tmp_path / "missing.safetensors", tmp_path / "x.h5", 10, progress=False)
    with pytest.raises(ValueError, match="not a ganaug model file|not a readable"):
        ganaug.export(blocker, tmp_path / "x.h5", 10, progress=False)
    with pytest.raises(FileNotFoundError, match="nothing to resume"):
        ganaug.export(gen, tmp_path / "x.h5", 10, device="cpu", progress=False, resume=True)
    (tmp_path / "y.h5.partial").write_text("not a folder")
    with pytest.raises(ValueError, match="not a ganaug export working folder"):
        ganaug.export(gen, tmp_path / "y.h5", 10, device="cpu", progress=False, resume=True)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = np.arange(3)
    with pytest.raises(FileExistsError, match="not a complete ganaug export"):
        ganaug.export(gen, foreign, 10, device="cpu", progress=False)


def test_cli_bad_input_messages(tmp_path, cond_model_path):
    r = ganaug_cli(
        "export", "--model", str(cond_model_path), "--n", "0", "--out", str(tmp_path / "x.h5")
    )
    assert r.returncode == 2 and "expected --n > 0" in r.stderr
    r = ganaug_cli(
        "export",
        "--model",
        str(tmp_path / "nope.safetensors"),
        "--n",
        "5",
        "--out",
        str(tmp_path / "x.h5"),
        "--labels",
        "0:3,11:2",
    )
    assert r.returncode == 2 and "no model file" in r.stderr


def test_default_model_is_the_bundled_one(tmp_path):
    out = tmp_path / "default.h5"
    r = ganaug_cli("export", "--n", "64", "--out", str(out), "--device", "cpu")
    assert r.returncode == 0, r.stderr
    ds = ganaug.H5Dataset(out)
    bundled = ganaug.sources.resolve_model_path("fashion-mnist")
    assert ds.attrs["model_sha256"] == ganaug.sources.file_sha256(bundled)
    assert len(ds) == 64 and ds.num_classes == 10


def test_cli_quality_filter(tmp_path, gen, cond_model_path):
    from ganaug.sources import FilteredSource

    out = tmp_path / "filtered.h5"
    base = export_args(cond_model_path, 64, out, "--seed", "4")
    parser = build_parser()
    with pytest.raises(ValueError, match="needs --classifier"):
        export_cli._source(parser.parse_args([*base, "--filter", "confidence"]))
    with pytest.raises(ValueError, match="only used with --filter confidence"):
        export_cli._source(parser.parse_args([*base, "--classifier", "c.safetensors"]))
    with pytest.raises(ValueError, match="expected a filter"):
        export_cli._source(parser.parse_args([*base, "--filter", "best"]))
    r = ganaug_cli(*base, "--filter", "drs:0.5")
    assert r.returncode == 0, r.stderr
    x, y = FilteredSource(gen, method="drs", threshold=0.5).sample(64, labels="balanced", seed=4)
    c = content(out)
    np.testing.assert_array_equal(c["images"], x.permute(0, 2, 3, 1).numpy())
    np.testing.assert_array_equal(c["labels"], y.numpy())
    job = ganaug.H5Dataset(out).attrs["job"]
    assert job["source"]["wrapper"]["filter"]["method"] == "drs"
    with pytest.raises(FileExistsError, match="already exists"):  # unfiltered != filtered
        ganaug.export(gen, out, 64, seed=4, device="cpu", progress=False)


@pytest.mark.parametrize(("n", "world", "align"), [(300, 2, 16), (1000, 3, 64), (5, 4, 16)])
def test_shard_ranges_tile_the_rows_at_chunk_boundaries(n, world, align):
    from ganaug.io.shards import shard_range

    ranges = [shard_range(n, r, world, align) for r in range(world)]
    assert ranges[0][0] == 0 and ranges[-1][1] == n
    for (_, hi), (lo, _) in zip(ranges, ranges[1:], strict=False):
        assert hi == lo
    assert all(lo % align == 0 for lo, hi in ranges if hi > lo)


def test_writer_thread_encodes_like_the_cpu_pool(tmp_path):
    # a GPU export hands raw batches to the writer thread; a CPU export hands it encoded chunks
    from concurrent.futures import ThreadPoolExecutor

    from ganaug.io.segments import SegmentWriter, encode_chunks

    images = NoiseSource().sample(100, seed=2)[0].permute(0, 2, 3, 1).numpy().copy()
    images[:, :14] = 0  # half blank: gzip has something to compress
    labels, seeds = np.full(100, -1), np.arange(100)
    files = {}
    for how in ("writer", "pool"):
        work = tmp_path / how
        work.mkdir()
        w = SegmentWriter(
            work,
            hwc=(28, 28, 1),
            chunk_rows=16,
            compression="gzip",
            gzip_level=4,
            done=0,
            on_write=lambda n: None,
        )
        w.start()
        with ThreadPoolExecutor(2) as pool:
            chunks = encode_chunks(images, 16, "gzip", 4, pool) if how == "pool" else None
        w.put(0, images, labels, seeds, chunks)
        w.finish()
        files[how] = (work / "seg-000000000000-000000000100.h5").read_bytes()
        with h5py.File(work / "seg-000000000000-000000000100.h5", "r") as f:
            np.testing.assert_array_equal(f["images"][:], images)
            assert f["images"].compression == "gzip"
    assert files["writer"] == files["pool"]


def test_python_export_under_torchrun_shards_as_the_cli_does(tmp_path, gen, cond_model_path):
    out = tmp_path / "py" / "s.h5"
    out.parent.mkdir()
    script = tmp_path / "export_script.py"
    script.write_text(
        "import sys, ganaug\n"
        "ganaug.export(sys.argv[1], sys.argv[2], 300, seed=2, device='cpu', batch_size=64, "
        "progress=False)\n"
    )
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node",
            "2",
            str(script),
            str(cond_model_path),
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert all(shard_path(out, rank, 2).exists() for rank in range(2))
    assert [s["file"] for s in ganaug.H5Dataset(out).attrs["shards"]] == [
        shard_path(out, rank, 2).name for rank in range(2)
    ]
    single = ganaug.export(gen, tmp_path / "single.h5", 300, seed=2, device="cpu", progress=False)
    assert_same_content(out, single)


def test_export_command_without_n_writes_ten_thousand_rows(tmp_path):
    out = tmp_path / "default.h5"
    r = ganaug_cli("export", "--out", str(out), "--device", "cpu", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert len(ganaug.H5Dataset(out)) == 10_000
    counts = tmp_path / "counts.h5"  # counts still set the number themselves
    r = ganaug_cli("export", "--out", str(counts), "--labels", "0:3,9:2", "--no-progress")
    assert r.returncode == 0, r.stderr
    assert sorted(ganaug.H5Dataset(counts).targets.tolist()) == [0, 0, 0, 9, 9]


def test_confidence_filter_trains_or_reads_the_domain_classifier(
    tmp_path, tmp_path_factory, data_root
):
    """--filter confidence works without --classifier: the bundled model says it was trained
    on fashion-mnist, and the cached domain classifier of that data judges the samples."""
    from ganaug.data import to_tensors
    from ganaug.metrics import domain_classifier

    cache = tmp_path_factory.getbasetemp() / "ganaug-cache" / "classifiers"  # the session's
    x, y = to_tensors(fashion_mnist_train(data_root))
    clf = domain_classifier(x, y, cache_dir=cache)
    out = tmp_path / "conf.h5"
    base = ["export", "--n", "64", "--out", str(out), "--device", "cpu", "--no-progress"]
    r = ganaug_cli(
        *base, "--filter", "confidence:0.9", "--root", str(data_root), "--cache-dir", str(cache)
    )
    assert r.returncode == 0, r.stderr
    expected = ganaug.FilteredSource(
        ganaug.load(), method="confidence", threshold=0.9, classifier=clf
    ).sample(64, labels="balanced", seed=0)[0]
    np.testing.assert_array_equal(content(out)["images"], expected.permute(0, 2, 3, 1).numpy())


def fashion_mnist_train(root: Path):
    from ganaug.data import fashion_mnist

    return fashion_mnist(root, train=True)
