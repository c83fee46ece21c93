"""Workers in containers, on a real Docker engine: the supervisor isolates a crash or a hang in a
container as it does in a local process; a GPU environment asks the engine for every GPU, and is
skipped where the engine has none; workers have no network and consumers cannot write artifacts;
an image named in matrix.yaml gets the environment's other packages on top, built once.

Uses the debootstrap base image (Python 3.11 and nothing else): the stand-in worker needs no
TensorFlow. test_docker_matrix.py runs the real worker in a real TensorFlow image.
"""
import hashlib
import time
from pathlib import Path

import pytest

from harness import run
from harness.config import spec
from harness.execute import containers, images
from harness.execute.supervisor import run_phase
from harness.report.results import resolve
from harness.workdir import PhaseFiles, read_records

FAKE = Path(__file__).resolve().parents[1] / "unit" / "fake_worker.py"


def _launcher(client, image, files, gpu=False):
    return containers.ContainerLauncher(client, image, f"kcm-test-{files.phase}", tuple(containers.mounts(files, [])),
                                        gpu=gpu)


def _phase(tmp_path, docker_client, image, ids, cell_timeout_s=30.0, **task):
    files = PhaseFiles(tmp_path, "consume", "envA")
    files.reset()
    cells = [{"id": i, "producer": "envP", "fixture": "f", "format": "h5", "loader": "load_model",
              "atol": 1e-5, "rtol": 1e-4} for i in ids]
    run_phase(files, _launcher(docker_client, image, files), {}, dict(task), cells, cell_timeout_s, 60.0,
              worker=FAKE)
    return read_records(files.results)


def _leftovers(client):
    return client.containers.list(all=True, filters={"label": containers.LABEL})


def test_signals_and_hangs_in_a_container_cost_one_cell_each(tmp_path, docker_client, base_image):
    records = _phase(tmp_path, docker_client, base_image, ["a", "b-segv", "c", "d-abort", "e-exit3", "f-hang", "g"],
                     cell_timeout_s=3.0)
    by_id = {r["id"]: r for r in records}
    assert len(records) == 7
    assert by_id["b-segv"]["verdict"] == "crash" and by_id["b-segv"]["reason"] == "worker killed by signal SIGSEGV"
    assert by_id["d-abort"]["reason"] == "worker killed by signal SIGABRT"
    assert by_id["e-exit3"]["reason"] == "worker exited with status 3"
    assert by_id["f-hang"]["verdict"] == "timeout" and "3 s timeout" in by_id["f-hang"]["reason"]
    assert [by_id[i]["verdict"] for i in "acg"] == ["pass", "pass", "pass"]
    assert not _leftovers(docker_client)


def test_a_worker_that_dies_before_its_first_cell_is_one_env_error_with_its_output(tmp_path, docker_client,
                                                                                   base_image):
    (record,) = _phase(tmp_path, docker_client, base_image, ["a", "b"], fail_at_start=True)
    assert record["verdict"] == "env-error" and record["scope"] == "env"
    assert record["reason"] == ("worker exited with status 1 before running a cell: "
                                "ImportError: numpy.core.multiarray failed to import")


def test_a_container_that_cannot_start_is_an_env_error(tmp_path, docker_client):
    (record,) = _phase(tmp_path, docker_client, "kcm-no-such-image:0", ["a"])
    assert record["verdict"] == "env-error"
    assert record["reason"].startswith("worker not started (container of kcm-no-such-image:0 did not start: ")
    assert not _leftovers(docker_client)


def test_a_gpu_worker_asks_the_engine_for_every_gpu_with_no_network_and_same_path_mounts(tmp_path, docker_client,
                                                                                        base_image):
    files = PhaseFiles(tmp_path, "produce", "gpu-env")
    files.reset()
    container = _launcher(docker_client, base_image, files, gpu=True).create(["worker.py", "task.json"], {"A": "1"})
    try:
        config = container.attrs
    finally:
        container.remove(force=True)
    host = config["HostConfig"]
    (request,) = host["DeviceRequests"]
    assert (request["Driver"], request["Count"], request["Capabilities"], request["DeviceIDs"] or None) == \
        ("", -1, [["gpu"]], None)
    assert host["NetworkMode"] == "none" and host["Init"] is True
    mounts = {m["Target"]: (m["Source"], m.get("ReadOnly", False)) for m in host["Mounts"]}
    assert mounts[str(containers.ROOT)] == (str(containers.ROOT), True)
    assert mounts[str(tmp_path / "artifacts" / "gpu-env")] == (str(tmp_path / "artifacts" / "gpu-env"), False)
    assert config["Config"]["Cmd"] == ["python3", "worker.py", "task.json"]
    assert "A=1" in config["Config"]["Env"]


def _exit_status(handle, limit_s=60.0):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        code = handle.wait(0.2)
        if code is not None:
            return code
    handle.kill()
    raise AssertionError(f"container still running after {limit_s} s")


PROBE = """
import os, socket, sys
try:
    socket.create_connection(("1.1.1.1", 443), timeout=3)
    sys.exit("reached the network")
except OSError:
    pass
try:
    open(os.path.join(sys.argv[1], "written-by-a-consumer"), "w")
    sys.exit("wrote into the artifacts")
except OSError as exc:
    print("refused:", exc)
"""


def test_a_consumer_has_no_network_and_cannot_write_artifacts(tmp_path, docker_client, base_image):
    files = PhaseFiles(tmp_path, "consume", "envA")
    files.reset()
    with open(files.log, "ab") as log:
        handle = _launcher(docker_client, base_image, files).start(
            ["-c", PROBE, str(tmp_path / "artifacts")], {}, log)
        code = _exit_status(handle)
    assert code == 0, files.log.read_text()
    assert "Read-only file system" in files.log.read_text()


def test_without_a_gpu_the_gpu_environment_is_skipped_with_the_engines_reason(tmp_path, docker_client):
    missing = images.gpu_missing(docker_client)
    if missing is None:
        pytest.skip("this Docker engine has a GPU")
    ctx = run.Context.from_args(["--profile", "docker", "--fixtures", "dense_bn", "--workdir", str(tmp_path)])
    run.start(ctx)
    run.produce(ctx, "tf2.15-docker-gpu", None, log=lambda line: None)
    (record,) = read_records(PhaseFiles(ctx.workdir, "produce", "tf2.15-docker-gpu").results)
    assert record["verdict"] == "skipped" and record["reason"] == \
        f"no GPU: the Docker engine cannot give a container one ({missing})"
    cells = [c for c in resolve(ctx.selection, ctx.workdir) if "tf2.15-docker-gpu" == c.producer]
    assert {c.verdict for c in cells} == {"skipped"}


def test_the_probe_leaves_nothing_behind(docker_client):
    images.gpu_missing(docker_client)
    assert not [c for c in docker_client.containers.list(all=True) if c.image.tags == [images.PROBE_IMAGE]]


def test_an_image_named_in_matrix_yaml_gets_the_other_packages_on_top_once(tmp_path, docker_client, base_image):
    path = tmp_path / "matrix.yaml"
    path.write_text(f"""
envs:
  own: {{runner: docker, image: "{base_image}", packages: ["tensorflow==2.15.1", "six==1.16.0"]}}
profiles:
  default: {{envs: [own]}}
""")
    loaded = spec.load(path)
    text = images.dockerfile(base_image, ["six==1.16.0"], make_venv=False)
    tag = f"{images.BUILT_REPOSITORY}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"
    if images.present(docker_client, tag):
        docker_client.images.remove(tag, force=True)
    logs = []
    assert images.ensure(docker_client, loaded.envs["own"], loaded, logs.append, lambda line: None) == tag
    assert logs == [f"own: building {tag}: FROM {base_image}, pip install six==1.16.0"]
    assert images.ensure(docker_client, loaded.envs["own"], loaded, logs.append, lambda line: None) == tag
    assert len(logs) == 1
    out = docker_client.containers.run(tag, ["python3", "-c", "import six; print(six.__version__)"], remove=True,
                                       network_mode="none")
    assert out.decode().strip() == "1.16.0"
