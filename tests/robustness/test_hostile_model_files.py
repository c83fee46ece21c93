"""nox -s check's host side over hostile model files and options: each is one UserInputError line (exit status 2),
and a --workdir the harness did not make is left as it was."""

import json
import os
import zipfile
from pathlib import Path

import h5py
import numpy
import pytest

from harness.check import modelfile, steps
from harness.check.modelfile import UserInputError, read_model_file
from harness.config import spec as spec_mod
from harness.config.matrix_yaml import matrix_path

SPEC = spec_mod.load(matrix_path())


def _keras(
    path: Path,
    config: str = '{"class_name": "Functional", "config": {}}',
    metadata: str = '{"keras_version": "3.3.3"}',
    **info,
) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in (("metadata.json", metadata), ("config.json", config)):
            member = zipfile.ZipInfo(name)
            for key, value in info.items():
                setattr(member, key, value)
            archive.writestr(member, text)
    return path


def _one_line(exc: pytest.ExceptionInfo) -> str:
    text = str(exc.value)
    assert "\n" not in text and len(text) < 600, text
    return text


def test_a_symlink_loop_is_named(tmp_path):
    (tmp_path / "a.keras").symlink_to(tmp_path / "b.keras")
    (tmp_path / "b.keras").symlink_to(tmp_path / "a.keras")
    with pytest.raises(UserInputError, match="loop of symbolic links") as caught:
        read_model_file(tmp_path / "a.keras")
    _one_line(caught)


def test_a_named_pipe_and_a_device_are_refused_without_reading(tmp_path):
    os.mkfifo(tmp_path / "pipe.keras")
    with pytest.raises(UserInputError, match=r"named pipe \(FIFO\), not a regular file"):
        read_model_file(tmp_path / "pipe.keras")
    with pytest.raises(UserInputError, match="is a device"):
        read_model_file(Path("/dev/zero"))
    with pytest.raises(UserInputError, match="--inputs .*named pipe"):
        steps._npz(tmp_path / "pipe.keras")
    with pytest.raises(UserInputError, match="--custom-objects .*named pipe"):
        steps._python_file(tmp_path / "pipe.keras")


def _patch(path: Path, local_offset: int, central_offset: int, value: int) -> Path:
    """Set a 2-byte field of every local header and central directory entry of a zip archive."""
    data = bytearray(path.read_bytes())
    for signature, offset in ((b"PK\x03\x04", local_offset), (b"PK\x01\x02", central_offset)):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            data[start + offset : start + offset + 2] = value.to_bytes(2, "little")
            start += 4
    path.write_bytes(bytes(data))
    return path


def test_an_encrypted_member_is_named(tmp_path):
    path = _patch(_keras(tmp_path / "m.keras"), 6, 8, 0x1)  # the encryption flag: zipfile asks for a password
    with pytest.raises(UserInputError, match="metadata.json inside the archive cannot be read .*encrypted") as caught:
        read_model_file(path)
    _one_line(caught)


def test_an_unsupported_compression_method_is_named(tmp_path):
    path = _patch(_keras(tmp_path / "m.keras"), 8, 10, 9)  # method 9, deflate64, which zipfile cannot read
    with pytest.raises(UserInputError, match="compression method is not supported") as caught:
        read_model_file(path)
    _one_line(caught)


def test_a_deeply_nested_config_is_not_a_recursion_error(tmp_path):
    path = _keras(tmp_path / "m.keras", config="[" * 100_000 + "]" * 100_000)
    with pytest.raises(UserInputError, match="config.json inside the archive is not JSON .*nested too deeply"):
        read_model_file(path)


def test_a_member_that_expands_past_the_cap_is_refused_unread(tmp_path, monkeypatch):
    monkeypatch.setattr(modelfile, "MAX_READ_BYTES", 1000)
    path = _keras(
        tmp_path / "m.keras", metadata='{"keras_version": "3.3.3"}' + " " * 50_000, compress_type=zipfile.ZIP_DEFLATED
    )
    assert path.stat().st_size < 1000  # small on disk, large once expanded
    with pytest.raises(UserInputError, match="metadata.json inside the archive expands past"):
        read_model_file(path)


def test_an_hdf5_attribute_past_the_cap_is_refused_and_the_model_config_is_never_read(tmp_path, monkeypatch):
    monkeypatch.setattr(modelfile, "MAX_READ_BYTES", 1000)
    config = json.dumps({"class_name": "Sequential", "config": {"x": "y" * 5000}}).encode()
    with h5py.File(tmp_path / "m.h5", "w") as handle:
        handle.attrs["keras_version"] = "2.15.0"
        handle.attrs["model_config"] = config
    assert read_model_file(tmp_path / "m.h5").format == "h5"  # found, not read
    with h5py.File(tmp_path / "m.h5", "a") as handle:
        handle.attrs["keras_version"] = numpy.bytes_(b"2" * 5000)  # fixed-length: its size is known unread
    with pytest.raises(UserInputError, match="HDF5 attribute keras_version holds 5000 bytes, past"):
        read_model_file(tmp_path / "m.h5")


def test_check_leaves_a_folder_it_did_not_make_alone(tmp_path):
    model = _keras(tmp_path / "m.keras")
    mine = tmp_path / "project"
    (mine / "reference").mkdir(parents=True)
    (mine / "reference" / "keep.txt").write_text("mine")
    (mine / "plan.json").write_text("my own plan")
    with pytest.raises(UserInputError, match="a folder the harness did not make") as caught:
        steps.start([str(model), "--from", "tf2.15", "--to", "tf2.16-keras3.3", "--workdir", str(mine)], SPEC)
    _one_line(caught)
    assert (mine / "reference" / "keep.txt").read_text() == "mine" and (mine / "plan.json").read_text() == "my own plan"
    # A new folder is the harness's own: a second check may empty it.
    ours = tmp_path / "ours"
    for _ in range(2):
        steps.start([str(model), "--from", "tf2.15", "--to", "tf2.16-keras3.3", "--workdir", str(ours)], SPEC)
    assert (ours / "plan.json").is_file() and (ours / steps.MARKER).is_file()


@pytest.mark.parametrize("workdir", ["file/under", "/proc/kcm-check"])
def test_a_work_dir_that_cannot_be_made_is_one_line(tmp_path, workdir):
    (tmp_path / "file").write_text("a file")
    model = _keras(tmp_path / "m.keras")
    with pytest.raises(UserInputError, match="--workdir .*cannot make or write the folder") as caught:
        steps.start(
            [
                str(model),
                "--from",
                "tf2.15",
                "--to",
                "tf2.16-keras3.3",
                "--workdir",
                str(tmp_path / workdir if not workdir.startswith("/") else workdir),
            ],
            SPEC,
        )
    _one_line(caught)


@pytest.mark.parametrize("text", ['{"results": []}', "[1, 2]", "[" * 100_000, '{"file": 1}', "\xff"])
def test_check_report_over_a_file_that_is_no_plan(tmp_path, text):
    path = tmp_path / "plan.json"
    path.write_text(text, errors="surrogateescape")
    with pytest.raises(UserInputError, match="not a check plan") as caught:
        steps.finish(path, log=lambda line: None)
    _one_line(caught)
