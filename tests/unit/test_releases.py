"""Targets by release (harness/check/releases.py), resolved against recorded index answers.

The index answers are PyPI's own (tests/data/pypi/*.json, captured 2026-11-29; see test_lock.py);
the Pythons are the lock's candidates, so the results do not depend on this machine.
"""

import json
from pathlib import Path

import h5py
import pytest

from harness.check import check_plan, releases, steps
from harness.check.modelfile import UserInputError
from harness.check.security.scan import release_target
from harness.config import lock, spec
from harness.config.matrix_yaml import DEFAULT_MATRIX

DATA = Path(__file__).resolve().parents[1] / "data" / "pypi"
PYPI = {path.stem: json.loads(path.read_text()) for path in DATA.glob("*.json")}
REQUIRES = PYPI.pop("requires-dist")
SPEC = spec.load(DEFAULT_MATRIX)


def project(name):
    try:
        return PYPI[lock.canonicalize_name(name)]
    except KeyError:
        raise lock.LockError(f"cannot resolve {name}: not recorded") from None


def requires(name, version, python):
    """The Requires-Dist PyPI's wheel metadata gave (tests/data/pypi/requires-dist.json; None: not served)."""
    return REQUIRES.get(f"{name}=={version}")


@pytest.fixture(autouse=True)
def recorded_requires(monkeypatch):
    monkeypatch.setattr(releases, "index_requires", lambda project, url=None: requires)


def no_index(name):
    raise AssertionError(f"the index was asked for {name}")


@pytest.mark.parametrize(
    "text, name, python, packages",
    [
        ("tf2.18", "tf2.18.1-keras3.15.1", "3.12", ["tensorflow-cpu==2.18.1", "keras==3.15.1"]),
        ("tensorflow==2.18.1 keras==3.8.0", "tf2.18.1-keras3.8.0", "3.12", ["tensorflow-cpu==2.18.1", "keras==3.8.0"]),
        # TF 2.21 requires keras>=3.12.0 and 2.20 keras>=3.10.0 (their wheels' metadata): 2.19 is the newest
        ("keras==3.8.0", "tf2.19.1-keras3.8.0", "3.12", ["tensorflow-cpu==2.19.1", "keras==3.8.0"]),
        ("tensorflow==2.15.1", "tf2.15.1", "3.11", ["tensorflow-cpu==2.15.1"]),
        ("tf2.13", "tf2.13.1", "3.11", ["tensorflow-cpu==2.13.1"]),
        ("tf-keras==2.16.0", "tf2.16.2-tfkeras2.16.0", "3.12", ["tensorflow-cpu==2.16.2", "tf-keras==2.16.0"]),
    ],
)
def test_releases_resolve_to_environments_named_after_what_they_hold(text, name, python, packages):
    found = releases.resolve(text, project)
    assert (found["name"], found["python"], found["packages"]) == (name, python, packages)
    assert found["description"].startswith(f"--to {text}: ") and f"Python {python}" in found["description"]
    assert found["env"] == ({"TF_USE_LEGACY_KERAS": "1"} if "tf-keras" in text else {})


def test_pins_whose_dependencies_refuse_each_other_are_one_line_and_a_free_one_is_narrowed():
    with pytest.raises(lock.LockError, match=r"tensorflow-cpu 2\.21\.0 requires keras>=3\.12\.0 .*not keras 3\.8\.0"):
        releases.resolve("tensorflow==2.21.0 keras==3.8.0", project)
    found = releases.resolve("keras==3.10.0", project)  # 2.21 refuses 3.10; 2.20 (keras>=3.10.0) takes it
    assert found["packages"] == ["tensorflow-cpu==2.20.0", "keras==3.10.0"]
    assert "of keras 3.10.0 could not be read" in found["description"]  # TF 2.20's was read
    assert "tensorflow-cpu 2.19.1, keras 3.8.0 could not be read" in releases.resolve("keras==3.8.0", project)[
        "description"]  # said, not hidden, when the index serves no metadata
    REQUIRES["tf-keras==2.16.0"] = ["tensorflow<2.17,>=2.16"]
    try:  # tf-keras names "tensorflow": the same package as the tensorflow-cpu pin
        assert releases.resolve("tf-keras==2.16.0", project)["packages"][0] == "tensorflow-cpu==2.16.2"
        REQUIRES["tf-keras==2.16.0"] = ["tensorflow<2.16.2"]  # planted: the newest patch is refused, 2.16.1 chosen
        assert releases.resolve("tf-keras==2.16.0", project)["packages"][0] == "tensorflow-cpu==2.16.1"
    finally:
        REQUIRES["tf-keras==2.16.0"] = None


def test_python_comes_from_the_wheels_of_the_pythons_found():
    assert releases.resolve("tf2.18", project, ("3.9", "3.10"))["python"] == "3.10"
    with pytest.raises(lock.LockError, match="no wheel for CPython 3.7"):
        releases.resolve("tf2.18", project, ("3.7",))


@pytest.mark.parametrize(
    "text, message",
    [
        (
            "tensorflow==2.18.7",
            "tensorflow-cpu 2.18.7 is not on the index; the releases near it: 2.18.0, 2.18.1, 2.19.0, 2.19.1",
        ),
        ("tf2.99", "TensorFlow 2.99 is not on the index; the releases near it: 2.20.0, 2.21.0"),
        ("keras==3.8.9", "keras 3.8.9 is not on the index; the releases near it: 3.7.0, 3.8.0, 3.9.0, 3.9.1"),
        ("keras==2.15.0", "Keras 2 comes inside TensorFlow"),
        ("keras>=3", "is no release such as keras==3.8.0"),
        ("torch==2.5.0", "is not tensorflow, keras or tf-keras"),
    ],
)
def test_an_unknown_release_is_one_line_naming_it_and_the_releases_near_it(text, message):
    with pytest.raises(lock.LockError, match=message.replace(".", r"\.")) as caught:
        releases.resolve(text, project)
    assert "\n" not in str(caught.value)


def test_a_resolved_release_is_cached_and_a_matrix_env_keeps_its_meaning(tmp_path):
    cache = tmp_path / "releases.json"
    releases.remember(releases.resolve("tensorflow==2.15.1", project), cache)
    assert releases.cached_for("tensorflow==2.15.1", cache)["name"] == "tf2.15.1"
    merged = releases.with_cached(SPEC, cache)
    assert merged.envs["tf2.15.1"].packages == ("tensorflow-cpu==2.15.1",) and merged.envs["tf2.15.1"].python == "3.11"
    assert merged.envs["tf2.15"] == SPEC.envs["tf2.15"]
    assert check_plan.env_versions(merged.envs["tf2.15.1"]).keras.minor == 15
    planted = json.loads(cache.read_text())
    cache.write_text(json.dumps({"tf2.15.1": dict(planted["tf2.15.1"], resolver=1)}))
    assert releases.cached_for("tensorflow==2.15.1", cache) is None  # resolved before pins were checked: again
    planted["tf2.15"] = dict(planted["tf2.15.1"], name="tf2.15", packages=["tensorflow-cpu==2.4.4"])
    cache.write_text(json.dumps(planted))
    assert releases.with_cached(SPEC, cache).envs["tf2.15"] == SPEC.envs["tf2.15"]  # matrix.yaml wins
    cache.write_text("not json")
    assert releases.with_cached(SPEC, cache) == SPEC


def test_check_to_a_release_plans_its_environment_and_says_how(model, tmp_path):
    cache = tmp_path / "releases.json"
    planned = steps.plan([str(model), "--to", "tf2.18", "keras==3.8.0", "tf2.16-keras3.3"], SPEC, project, cache)
    assert planned.targets == ["tf2.18.1-keras3.15.1", "tf2.19.1-keras3.8.0", "tf2.16-keras3.3"]
    assert any(n.startswith("tf2.18.1-keras3.15.1: --to tf2.18: the newest patch of TF 2.18") for n in planned.notes)
    again = steps.plan([str(model), "--to", "tf2.18"], SPEC, no_index, cache)  # reused: the index is not asked
    assert again.targets == ["tf2.18.1-keras3.15.1"]
    with pytest.raises(UserInputError, match="tensorflow-cpu 2.18.7 is not on the index"):
        steps.plan([str(model), "--to", "tensorflow==2.18.7"], SPEC, project, cache)


def test_scan_reads_a_cached_release_as_its_pins():
    found = releases.resolve("tf2.18", project)
    target = release_target(" ".join(found["packages"]))
    assert (target.flavor, str(target.keras), str(target.tensorflow)) == ("keras3", "3.15.1", "2.18.1")


def test_scan_resolves_a_short_form_once_then_reads_the_cache(tmp_path, monkeypatch):
    from harness.check.security.scan import main
    from tests.unit.test_security_scan import os_keras

    monkeypatch.setattr(releases, "RELEASES_CACHE", tmp_path / "releases.json")
    monkeypatch.setattr(lock, "fetch", lambda name, url=None: project(name))
    status, text = main([str(os_keras(tmp_path / "m.keras")), "--to", "tf2.18", "--format", "json"])
    (target,) = json.loads(text)["files"][0]["targets"]
    assert (status, target["target"], target["keras"]) == (0, "tf2.18 (tf2.18.1-keras3.15.1)", "3.15.1")
    monkeypatch.setattr(lock, "fetch", no_index)
    assert main([str(tmp_path / "m.keras"), "--to", "tf2.18"])[0] == 0


def test_a_cache_that_cannot_be_written_is_one_line(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(lock.LockError, match="cannot be cached"):
        releases.remember(releases.resolve("tf2.18", project), tmp_path / "file" / "releases.json")


def h5_recording(path, keras_version):
    with h5py.File(path, "w") as handle:
        handle.attrs.update(keras_version=keras_version, backend="tensorflow", model_config="{}")
    return path


def test_from_takes_a_release_as_to_does(model, tmp_path):
    cache = tmp_path / "releases.json"
    planned = steps.plan([str(model), "--from", "keras==3.8.0", "--to", "tf2.21-keras3.15"], SPEC, project, cache)
    assert planned.source == "tf2.19.1-keras3.8.0" and planned.source_why.startswith("named with --from (Keras 3.8.0")
    assert any(n.startswith("tf2.19.1-keras3.8.0: --from keras==3.8.0: Keras 3.8.0 with") for n in planned.notes)
    assert steps.plan([str(model), "--from", "tf2.15"], SPEC, no_index, cache).source == "tf2.15"  # a name stays one
    with pytest.raises(UserInputError, match=r"^--from 'keras==3\.8\.9': keras 3\.8\.9 is not on the index"):
        steps.plan([str(model), "--from", "keras==3.8.9"], SPEC, project, cache)


def test_a_file_whose_minor_no_environment_runs_gets_an_environment_for_exactly_it(tmp_path):
    cache = tmp_path / "releases.json"
    keras38 = h5_recording(tmp_path / "k38.h5", "3.8.0")
    planned = steps.plan([str(keras38), "--to", "tf2.21-keras3.15"], SPEC, project, cache)
    assert planned.source == "tf2.19.1-keras3.8.0"
    assert any(n.startswith("tf2.19.1-keras3.8.0: the file's own versions, keras==3.8.0: Keras 3.8.0 with")
               for n in planned.notes)
    assert "the closest, tf2.16-keras3.3, differs in minor version): tf2.19.1-keras3.8.0 was made for exactly them " \
           "(keras==3.8.0)" in planned.source_why
    assert steps.plan([str(keras38), "--to", "tf2.21-keras3.15"], SPEC, no_index, cache).source == planned.source
    tfkeras = steps.plan([str(h5_recording(tmp_path / "tk.h5", "2.17.0")), "--to", "tf2.21-keras3.15"], SPEC,
                         project, cache)
    assert tfkeras.source == "tf2.17-tfkeras"  # tf_keras records its own version; the atlas locks that minor
    keras213 = h5_recording(tmp_path / "k213.h5", "2.13.1")
    assert steps.plan([str(keras213)], SPEC, no_index, cache).source == "tf2.13"  # the same minor: matrix.yaml's
    keras212 = h5_recording(tmp_path / "k212.h5", "2.12.0")
    assert steps.plan([str(keras212)], SPEC, project, cache).source == "tf2.12"  # the atlas locks TF 2.12
    offline = steps.plan([str(h5_recording(tmp_path / "k35.h5", "3.5.0"))], SPEC, broken_index, cache)
    assert offline.source == "tf2.16-keras3.3" and "could not be made (cannot resolve keras: " in \
        offline.source_why  # no index: the closest, saying why


def broken_index(name):
    raise lock.LockError(f"cannot resolve {name}: https://pypi.org/pypi/{name}/json did not answer (no route)")
