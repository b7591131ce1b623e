"""nircolor.files: every file a user keeps is written whole or not at all."""

import os
import subprocess
import sys

import pytest

from nircolor import files


def test_a_write_replaces_the_file_in_one_step(tmp_path):
    path = tmp_path / "deep" / "a.json"
    files.write_json(path, {"a": 1})
    assert path.read_text() == '{\n  "a": 1\n}\n'
    files.write_text(path, "new\n")
    assert path.read_text() == "new\n" and sorted(p.name for p in path.parent.iterdir()) == ["a.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "model.pt"
    path.write_bytes(b"old")
    with pytest.raises(RuntimeError, match="midway"):
        with files.atomic_path(path) as temporary:
            temporary.write_bytes(b"half of the n")
            raise RuntimeError("killed midway")
    assert path.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["model.pt"]


def test_the_temporary_is_hidden_per_process_and_keeps_the_suffix(tmp_path):
    temporary = files.partial_path(tmp_path / "clip.onnx")
    assert temporary.name.startswith(".clip.onnx.partial-") and temporary.suffix == ".onnx" and str(os.getpid()) in temporary.name


def test_a_writer_that_wrote_nothing_is_an_error_not_an_empty_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing was written"):
        with files.atomic_path(tmp_path / "x.png"):
            pass  # cv2.imwrite returning False without a file, say
    assert not (tmp_path / "x.png").exists()


def test_a_dead_writers_temporaries_are_removed_and_a_live_ones_kept(tmp_path):
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True).stdout.strip()
    stale = tmp_path / f".x.pt.partial-{gone}.pt"
    live = tmp_path / f".x.pt.partial-{os.getppid()}.pt"
    other = tmp_path / f".y.pt.partial-{gone}.pt"
    for p in (stale, live, other):
        p.write_bytes(b"\0")
    assert files.remove_stale_partials(tmp_path / "x.pt") == [stale]
    assert live.exists() and other.exists()


def test_a_checkpoint_save_that_fails_keeps_the_old_weights(tmp_path, monkeypatch):
    import torch

    from nircolor.models import checkpoint

    net = torch.nn.Conv2d(1, 3, 1)
    card = checkpoint.ModelCard(architecture="x", options={}, pad_multiple=1)
    path = tmp_path / "best.pt"
    path.write_bytes(b"the weights a user keeps")

    def full_disk(obj, f, *args, **kwargs):
        open(f, "wb").write(b"PK\x03\x04 truncated")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match="No space"):
        checkpoint.save(path, net, card)
    assert path.read_bytes() == b"the weights a user keeps" and [p.name for p in tmp_path.iterdir()] == ["best.pt"]
