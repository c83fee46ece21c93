"""nox -s merge over hostile CI job folders: nothing outside the work dir is touched, and one line says why."""

import json
from pathlib import Path

import pytest

from harness import run
from harness.ci import merge
from harness.config.matrix_yaml import matrix_path, matrix_sha256
from harness.guard import OutsideWorkdir, within
from harness.workdir import PhaseFiles

ENVS = ["tf2.15"]


def _job(root: Path, envs: list, **extra) -> Path:
    job = root / "job"
    (job / "results").mkdir(parents=True)
    planned = dict(
        profile="default",
        envs=envs,
        fixtures=["dense_bn"],
        formats=["h5"],
        goldens=[],
        matrix_sha256=matrix_sha256(matrix_path()),
    )
    planned.update(extra)
    (job / "run.json").write_text(json.dumps(planned))
    return job


def _victims(root: Path) -> list[Path]:
    """Files a hostile environment name would reach from root/deep/work: root/victim/target.*."""
    victim = root / "victim"
    victim.mkdir()
    paths = [victim / f"target{suffix}" for suffix in (".jsonl", ".log", ".facts.json", ".stats.json", ".progress")]
    for path in paths:
        path.write_text("precious")
    return paths


def test_an_environment_name_that_climbs_out_of_the_work_dir_is_refused_before_any_file_is_touched(tmp_path):
    victims = _victims(tmp_path)
    hostile = "x/../../../../victim/target"
    job = _job(tmp_path, [hostile])
    workdir = tmp_path / "deep" / "a" / "b" / "work"
    with pytest.raises(merge.MergeError, match="not a list of environment names") as caught:
        run.merge([str(job), "--workdir", str(workdir)], log=lambda line: None)
    assert "\n" not in str(caught.value)
    assert all(path.read_text() == "precious" for path in victims)
    assert not workdir.exists()


def test_an_environment_not_in_matrix_yaml_is_refused(tmp_path):
    job = _job(tmp_path, ["not-an-env"])
    with pytest.raises(merge.MergeError, match="'not-an-env' is not in this checkout's matrix.yaml"):
        run.merge([str(job), "--workdir", str(tmp_path / "work")], log=lambda line: None)
    assert not (tmp_path / "work").exists()


def test_a_run_json_without_matrix_sha256_is_not_taken_on_trust(tmp_path):
    job = _job(tmp_path, ENVS)
    data = json.loads((job / "run.json").read_text())
    del data["matrix_sha256"]
    (job / "run.json").write_text(json.dumps(data))
    with pytest.raises(merge.MergeError, match="no matrix_sha256"):
        run.merge([str(job), "--workdir", str(tmp_path / "work")], log=lambda line: None)


@pytest.mark.parametrize("name", ["..", ".", "", "a/b", "a\\b", "a\0b", "/etc", "x" * 300, "tab\there"])
def test_work_dir_paths_refuse_names_that_are_no_plain_file_name(tmp_path, name):
    with pytest.raises(OutsideWorkdir):
        within(tmp_path, name)


def test_phase_files_of_a_climbing_environment_name_are_refused(tmp_path):
    with pytest.raises(OutsideWorkdir, match="not a plain file name"):
        PhaseFiles(tmp_path, "produce", "../../victim").reset()


def test_a_link_out_of_the_work_dir_is_refused(tmp_path):
    (tmp_path / "work").mkdir()
    (tmp_path / "work" / "results").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(OutsideWorkdir, match="leads outside"):
        _ = PhaseFiles(tmp_path / "work", "produce", "tf2.15").results
