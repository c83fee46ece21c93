"""A user's own interpreter as an environment (runner: python, or check --to python:PATH): used as it
is, nothing installed, its versions read from the metadata of what is installed in it.

The interpreter is a real venv of this Python (no pip, no TensorFlow) whose site-packages holds the
installed metadata (``*.dist-info/METADATA``) of tensorflow-cpu 2.16.2, keras 3.3.3 and tf-keras 2.16.0, as a pip
install leaves it; importlib.metadata reads those, so nothing imports TensorFlow.
"""
import json
import sys
import textwrap
import venv
from pathlib import Path

import h5py
import pytest

from harness.check import check_plan, releases, steps
from harness.check.modelfile import UserInputError
from harness.config import spec
from harness.config.matrix_yaml import DEFAULT_MATRIX
from harness.execute import launch
from harness.execute.processes import Interpreter
from harness.execute.supervisor import run_phase
from harness.workdir import PhaseFiles, read_records

FAKE = Path(__file__).with_name("fake_worker.py")


@pytest.fixture(scope="module")
def interpreter(tmp_path_factory):
    """A venv's python with the metadata of tensorflow-cpu 2.16.2, keras 3.3.3 and tf-keras 2.16.0 installed."""
    root = tmp_path_factory.mktemp("userenv")
    venv.create(root, with_pip=False, symlinks=True)
    python = root / "bin" / "python"
    (site,) = root.glob("lib/python*/site-packages")
    # jax with a version that is not PEP 440 (a hand-made build): left out, not a crash
    for name, version in (("tensorflow_cpu", "2.16.2"), ("keras", "3.3.3"), ("tf_keras", "2.16.0"), ("jax", "local")):
        info = site / f"{name}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name.replace('_', '-')}\nVersion: {version}\n")
    return str(python)


def load(tmp_path, env_text):
    path = tmp_path / "matrix.yaml"
    path.write_text(textwrap.dedent(f"""
        envs:
          tf2.15: {{python: "3.11", packages: ["tensorflow-cpu==2.15.1"]}}
          prod: {env_text}
        profiles:
          default: {{envs: [tf2.15, prod]}}
        """))
    return spec.load(path)


def test_a_python_env_records_the_versions_installed_in_its_interpreter(tmp_path, interpreter, monkeypatch):
    monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)
    env = load(tmp_path, f"{{runner: python, interpreter: {interpreter}}}").envs["prod"]
    assert (env.runner, env.interpreter, env.python) == ("python", interpreter, "%d.%d" % sys.version_info[:2])
    assert env.packages == ("keras==3.3.3", "tensorflow-cpu==2.16.2")
    assert (str(env.versions()["keras"]), str(env.versions()["tensorflow"])) == ("3.3.3", "2.16.2")
    assert check_plan.env_versions(env).flavor == "keras3"  # tf-keras is installed, but tf.keras is Keras 3 here
    legacy = load(tmp_path, f'{{runner: python, interpreter: {interpreter}, env: {{TF_USE_LEGACY_KERAS: "1"}}}}')
    assert check_plan.env_versions(legacy.envs["prod"]).flavor == "tf_keras" and "tf-keras==2.16.0" in \
        legacy.envs["prod"].packages


@pytest.mark.parametrize(
    "env_text, message",
    [
        ("{runner: python}", "interpreter"),
        ("{runner: python, interpreter: bin/python}", "an absolute path to an existing Python interpreter"),
        ('{runner: python, interpreter: /usr/bin/python3, packages: ["keras==3.3.3"]}', "prod.packages: a runner: "
         "python environment uses its interpreter as it is: it installs nothing"),
        ('{runner: python, interpreter: /usr/bin/python3, python: "3.11"}', "prod.python: a runner: python"),
        ('{python: "3.11", packages: ["tensorflow-cpu==2.15.1"], interpreter: /usr/bin/python3}',
         "prod.interpreter: only an environment with runner: python"),
        ("{runner: python, interpreter: /usr/bin/python3, device: gpu}", "prod.device"),
    ],
)
def test_a_python_env_is_validated_with_one_message_naming_the_key(tmp_path, env_text, message):
    with pytest.raises(spec.SpecError) as caught:
        load(tmp_path, env_text)
    assert message in str(caught.value) and "envs.prod" in str(caught.value) and "\n" not in str(caught.value)


def test_its_worker_runs_with_its_own_interpreter_and_a_missing_one_is_env_error(tmp_path, interpreter):
    loaded = load(tmp_path, f"{{runner: python, interpreter: {interpreter}}}")
    files = PhaseFiles(tmp_path / "work", "check", "prod")
    files.reset()
    launcher = launch.prepare(loaded, files, None, log=lambda *_: None)  # no venv: nothing is installed
    assert launcher == Interpreter(interpreter)
    cells = [{"id": "prod/load_model", "role": "target", "loader": "load_model", "format": "h5",
              "fixture": "m.h5", "producer": "tf2.15", "atol": 0, "rtol": 0}]
    run_phase(files, launcher, loaded.envs["prod"].worker_variables(), {}, cells, 30.0, 30.0, worker=FAKE)
    assert [r["verdict"] for r in read_records(files.results)] == ["pass"]
    gone = load(tmp_path, "{runner: python, interpreter: /nonexistent/bin/python}")
    assert gone.envs["prod"].packages == ()
    files.reset()
    assert launch.prepare(gone, files, None, log=lambda *_: None) is None
    (record,) = read_records(files.results)
    assert record["verdict"] == "env-error" and "/nonexistent/bin/python: no executable Python interpreter" in \
        record["reason"]


def test_check_to_an_interpreter_names_it_after_what_it_holds(tmp_path, interpreter, monkeypatch):
    monkeypatch.delenv("TF_USE_LEGACY_KERAS", raising=False)
    model = tmp_path / "model.h5"
    with h5py.File(model, "w") as handle:
        handle.attrs.update(keras_version="2.15.0", backend="tensorflow", model_config="{}")
    cache = tmp_path / "releases.json"
    base = spec.load(DEFAULT_MATRIX)
    planned = steps.plan([str(model), "--to", f"python:{interpreter}"], base, None, cache)
    (target,) = planned.targets
    assert target.startswith("py%d.%d-tf2.16.2-keras3.3.3-" % sys.version_info[:2])
    assert any("that interpreter as it is, nothing installed" in note for note in planned.notes)
    env = releases.with_cached(base, cache).envs[target]
    assert (env.runner, env.interpreter, env.packages) == ("python", interpreter,
                                                           ("keras==3.3.3", "tensorflow-cpu==2.16.2"))
    assert json.loads(cache.read_text())[target]["request"] == f"python:{interpreter}"
    with pytest.raises(UserInputError, match=r"^--to 'python:/nonexistent/python': /nonexistent/python: no executable"):
        steps.plan([str(model), "--to", "python:/nonexistent/python"], base, None, cache)
    with pytest.raises(UserInputError, match=r"^--to 'python:/bin/sh': /bin/sh: not a Python interpreter"):
        steps.plan([str(model), "--to", "python:/bin/sh"], base, None, cache)  # never run with the probe's text
    source = steps.plan([str(model), "--from", f"python:{interpreter}", "--to", "tf2.21-keras3.15"], base, None, cache)
    assert (source.source, source.source_why) == (target, "named with --from (Keras 3.3.3 on TF 2.16.2)")


def test_scan_reads_an_interpreter_target_from_what_is_installed_in_it(tmp_path, interpreter):
    from harness.check.security.scan import main
    from tests.unit.test_security_scan import os_keras

    status, text = main([str(os_keras(tmp_path / "m.keras")), "--to", f"python:{interpreter}", "--format", "json"])
    (target,) = json.loads(text)["files"][0]["targets"]
    assert (target["keras"], status) == ("3.3.3", 1)  # Keras 3.3 imports os.system from the config (CVE-2025-1550)
    with pytest.raises(UserInputError, match="no executable Python interpreter"):
        main([str(tmp_path / "m.keras"), "--to", "python:/nonexistent/python"])
