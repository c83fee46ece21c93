"""The docker profile run for real: TF 2.15 in a venv, the same TF 2.15 in a CPU container, and in a
GPU container. A producer in a container and a consumer in a venv (and the reverse) give the verdicts
the all-venv run gives; without a GPU, the GPU environment's cells are skipped with the reason, and a
GPU worker whose TensorFlow sees no GPU is an env-error.

Where tensorflow/tensorflow:2.15.1 cannot be pulled (CI, this machine), the image is built from the
debootstrap base (pip install tensorflow-cpu==2.15.1, about a minute, then reused).
"""
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ROOT, run_matrix
from harness.execute import containers, images
from harness.execute.plan import produce_cells
from harness.execute.supervisor import run_phase
from harness.run import Context
from harness.workdir import PhaseFiles, read_records

VENV, DOCKER, GPU = "tf2.15", "tf2.15-docker", "tf2.15-docker-gpu"
RUN_DEFAULT = Path(__file__).resolve().parents[1] / "data" / "run-default" / "results"


@pytest.fixture(scope="module")
def run(tmp_path_factory, docker_client):
    # Whether the run as a whole passes depends on matrix.yaml's expected failures, not on the runner.
    return run_matrix(tmp_path_factory.mktemp("docker"), "--profile", "docker", "--fixtures", "dense_bn", "small_cnn",
                      succeeds=None)


def _same_cells(run, producer, consumer):
    """{fixture/format/loader: cell} of one producer>consumer pair."""
    prefix = f"{producer}>{consumer}/"
    return {cid[len(prefix):]: c for cid, c in run["cells"].items() if cid.startswith(prefix)}


@pytest.mark.parametrize("producer, consumer", [(DOCKER, VENV), (VENV, DOCKER), (DOCKER, DOCKER)])
def test_containers_give_the_verdicts_of_the_venv(run, producer, consumer):
    venv = _same_cells(run, VENV, VENV)
    other = _same_cells(run, producer, consumer)
    assert set(other) == set(venv) and len(venv) > 20
    assert {k: (c["verdict"], c["error_type"]) for k, c in other.items()} == \
        {k: (c["verdict"], c["error_type"]) for k, c in venv.items()}
    assert {c["producer_device"] for c in other.values() if c["verdict"] == "pass"} == {"cpu"}


def test_and_the_verdicts_of_the_recorded_default_run(run):
    recorded = {json.loads(line)["id"]: json.loads(line)["verdict"]
                for line in (RUN_DEFAULT / "consume-tf2.15.jsonl").read_text().splitlines()}
    checked = 0
    for key, cell in _same_cells(run, DOCKER, VENV).items():
        was = recorded.get(f"{VENV}>{VENV}/{key}")
        if was is not None:
            assert (cell["original_verdict"] or cell["verdict"]) == was, key
            checked += 1
    assert checked >= 2 * 5


def test_the_container_is_what_it_says(run):
    facts = run["results"]["environments"][DOCKER]["facts"]
    assert facts["tensorflow"] == "2.15.1" and facts["keras_flavor"] == "keras2" and facts["device"] == "cpu"
    assert facts["python"].startswith("3.11.")
    assert f"nox > {DOCKER}: workers run in containers of " in run["log"]
    assert run["results"]["environments"][DOCKER]["runner"] == "docker"


def test_without_a_gpu_the_gpu_cells_are_skipped_with_the_reason(run, docker_client):
    if images.gpu_missing(docker_client) is None:
        pytest.skip("this Docker engine has a GPU")
    gpu = [c for c in run["cells"].values() if GPU in (c["producer"], c["consumer"])]
    assert gpu and {c["verdict"] for c in gpu} == {"skipped"}
    assert all("no GPU: the Docker engine cannot give a container one" in c["reason"] for c in gpu)
    others = [c for c in run["cells"].values() if GPU not in (c["producer"], c["consumer"])]
    assert "skipped" not in {c["verdict"] for c in others}


def test_the_report_shows_device_pairs(run):
    md = (run["reports"] / "matrix.md").read_text()
    assert "## Device pairs" in md
    for pair in ("cpu>cpu", "cpu>gpu", "gpu>cpu", "gpu>gpu"):
        assert f"| {pair} " in md


def test_docker_sessions_make_no_venv(run):
    venvs = [line for line in run["log"].splitlines() if "virtual environment" in line]
    assert len(venvs) == 2 and not [line for line in venvs if "docker" in line]  # tf2.15's two sessions


def test_nox_images_has_the_image_and_passes_over_the_gpu(run, docker_client):
    proc = subprocess.run([sys.executable, "-m", "nox", "-f", str(ROOT / "noxfile.py"), "-s", "images", "--",
                           "--profile", "docker"], cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out
    assert f"{DOCKER}: ready: " in out and f"{GPU}: passed over: no GPU" in out


def test_a_gpu_worker_whose_tensorflow_sees_no_gpu_is_an_env_error(run, docker_client, tmp_path):
    """The real worker in the real TF 2.15 image, told it is on a GPU, in a container without one."""
    ctx = Context.from_args(["--profile", "docker", "--fixtures", "dense_bn", "--workdir", str(tmp_path)])
    image = images.ensure(docker_client, ctx.spec.envs[DOCKER], ctx.spec, print, lambda line: None)
    files = PhaseFiles(ctx.workdir, "produce", DOCKER)
    files.reset()
    mounts = containers.mounts(files, [f.path for f in ctx.selection.fixtures.values()])
    launcher = containers.ContainerLauncher(docker_client, image, "kcm-test-gpu", tuple(mounts))
    task = dict(ctx.task("produce", DOCKER), device="gpu")
    run_phase(files, launcher, {}, task, produce_cells(ctx.selection, DOCKER), 60.0, 300.0)
    (record,) = read_records(files.results)
    assert record["verdict"] == "env-error" and record["reason"] == (
        "worker exited with status 3 before running a cell: asked for a GPU, but TensorFlow 2.15.1 sees none "
        "(tf.config.list_physical_devices('GPU') is empty)")
