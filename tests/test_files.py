"""The one write-then-rename helper every file writer uses."""

from __future__ import annotations

import pytest

from ganaug._files import replacing


def test_replacing_moves_the_finished_file_into_place(tmp_path):
    path = tmp_path / "a.json"
    with replacing(path, durable=True) as tmp:
        assert tmp.parent == path.parent and tmp != path
        tmp.write_text("new")
        assert not path.exists()  # nothing under the final name until the block succeeds
    assert path.read_text() == "new" and list(tmp_path.iterdir()) == [path]


def test_an_error_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "a.json"
    path.write_text("old")
    with pytest.raises(RuntimeError, match="disk full"), replacing(path) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert path.read_text() == "old" and list(tmp_path.iterdir()) == [path]
