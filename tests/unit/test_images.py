"""What image a docker environment asks for and what gets installed in it; without an engine, its
cells are skipped with the reason (no Docker engine needed for these tests)."""
import textwrap

from harness import run
from harness.config import spec
from harness.execute import images
from harness.report.results import resolve
from harness.workdir import PhaseFiles, read_records

MATRIX = """
envs:
  cpu: {runner: docker, packages: ["tensorflow-cpu==2.16.2", "keras==3.3.3"]}
  gpu: {runner: docker, device: gpu, packages: ["tensorflow==2.15.1"]}
  old: {runner: docker, packages: ["tensorflow-cpu==2.10.1"]}
  own: {runner: docker, image: "registry.example.com/ml/tf:2.15", packages: ["tensorflow==2.15.1"]}
profiles:
  default: {envs: [cpu, gpu, old, own]}
extra_pins:
  - {when: "tensorflow<2.12", pins: ["numpy<2"], reason: "numpy 2 breaks TF 2.10"}
"""


def _spec(tmp_path):
    path = tmp_path / "matrix.yaml"
    path.write_text(textwrap.dedent(MATRIX))
    return spec.load(path)


def test_the_default_image_is_the_official_one_of_the_tf_pin(tmp_path):
    envs = _spec(tmp_path).envs
    assert images.official_image(envs["cpu"]) == "tensorflow/tensorflow:2.16.2"
    assert images.official_image(envs["gpu"]) == "tensorflow/tensorflow:2.15.1-gpu"


def test_on_an_image_with_tensorflow_only_the_other_packages_are_installed(tmp_path):
    loaded = _spec(tmp_path)
    assert images._on_top(loaded.envs["cpu"], loaded) == ["keras==3.3.3"]
    assert images._on_top(loaded.envs["old"], loaded) == ["numpy<2"]
    assert images._on_top(loaded.envs["own"], loaded) == []


def test_from_the_base_image_everything_is_installed_and_a_gpu_env_gets_cuda(tmp_path):
    loaded = _spec(tmp_path)
    assert images._from_base(loaded.envs["old"], loaded) == ["tensorflow-cpu==2.10.1", "numpy<2"]
    assert images._from_base(loaded.envs["gpu"], loaded) == ["tensorflow[and-cuda]==2.15.1", "numpy"]


def test_the_dockerfile_installs_with_the_host_ca_and_a_venv_only_on_the_base():
    text = images.dockerfile(images.BASE_IMAGE, ["tensorflow-cpu==2.15.1", "numpy<2"], make_venv=True)
    assert text.splitlines()[1] == f"FROM {images.BASE_IMAGE}"
    assert f"python3 -m venv {images.VENV} &&" in text and "PIP_CERT=/etc/kcm/ca.crt" in text
    assert "pip install 'tensorflow-cpu==2.15.1' 'numpy<2'" in text
    on_top = images.dockerfile("tensorflow/tensorflow:2.16.2", ["keras==3.3.3"], make_venv=False)
    assert "venv" not in on_top.split("RUN", 1)[1].split("pip install")[0]


def test_without_a_docker_engine_the_docker_envs_cells_are_skipped_with_the_reason(tmp_path, monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-engine.sock")
    ctx = run.Context.from_args(["--profile", "docker", "--fixtures", "dense_bn", "--workdir", str(tmp_path)])
    run.start(ctx)
    run.produce(ctx, "tf2.15-docker", None, log=lambda line: None)
    (record,) = read_records(PhaseFiles(ctx.workdir, "produce", "tf2.15-docker").results)
    assert record["verdict"] == "skipped" and record["scope"] == "env"
    assert record["reason"].startswith(f"no Docker engine answers at unix://{tmp_path}/no-engine.sock")
    cells = [c for c in resolve(ctx.selection, ctx.workdir) if c.producer == "tf2.15-docker"]
    assert cells and {c.verdict for c in cells} == {"skipped"}
    assert cells[0].reason.startswith("producer tf2.15-docker: no Docker engine answers")
