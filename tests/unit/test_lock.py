"""Templates resolved against the package index (nox -s lock), and their lock file expanded by spec.load.

The index answers are PyPI's own (tests/data/pypi/*.json, captured 2026-11-29 from
https://pypi.org/pypi/NAME/json by tests/data/pypi/capture.py, trimmed to the fields lock.py reads):
tensorflow-cpu 2.12.0rc0 to 2.22.0rc0, keras 3.0.0 to 3.15.1, every tf-keras (2.20.0 is yanked); and,
captured 2026-12-07 with their upload times, keras again, jax and jaxlib 0.4.20 to 0.12.1 (jaxlib's linux
x86_64 wheels only).
"""
import datetime
import http.server
import json
import re
import socket
import textwrap
import threading
from pathlib import Path

import pytest

from harness.config import env_templates, lock, spec

DATA = Path(__file__).resolve().parents[1] / "data" / "pypi"
PYPI = {path.stem: json.loads(path.read_text()) for path in DATA.glob("*.json")}
TODAY = datetime.date(2026, 11, 29)

MATRIX = """
envs:
  tf2.15: {python: "3.11", packages: ["tensorflow-cpu==2.15.1"]}
templates:
  keras2:
    description: Keras {minor} inside TF {release}
    name: "tf{minor}-k2"
    packages: ["tensorflow-cpu>=2.12,<2.16"]
profiles:
  default: {envs: [tf2.15, keras2]}
"""


def _template(**keys):
    raw = {"envs": {}, "templates": {"t": dict({"name": "t{release}"}, **keys)}}
    return env_templates.parse(raw)["t"]


def _resolve(**keys):
    return lock.resolve(_template(**keys), PYPI.__getitem__)


def _releases(entry):
    return [env["release"] for env in entry["envs"]]


def _write(tmp_path, text=MATRIX):
    path = tmp_path / "matrix.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def _lock(path, *args):
    lines = []
    document = lock.main(list(args), path, project=PYPI.__getitem__, log=lines.append, today=TODAY)
    return document, lines


def test_every_minor_takes_the_newest_patch_of_each():
    entry = _resolve(name="tf{minor}", packages=["tensorflow-cpu>=2.12,<2.16"])
    # 2.15.0.post1 is older than 2.15.1; 2.12.0rc0 to 2.15.0rc1 are pre-releases.
    assert _releases(entry) == ["2.12.1", "2.13.1", "2.14.1", "2.15.1"]
    assert [env["name"] for env in entry["envs"]] == ["tf2.12", "tf2.13", "tf2.14", "tf2.15"]
    assert entry["envs"][0]["packages"] == ["tensorflow-cpu==2.12.1"]


def test_newest_keeps_the_newest_minors_and_other_ranges_take_their_newest_release():
    entry = _resolve(name="tf{minor}", packages=["tensorflow-cpu>=2.16", "keras>=3", "numpy<3"], newest=2)
    assert _releases(entry) == ["2.20.0", "2.21.0"]
    assert entry["envs"][1]["packages"] == ["tensorflow-cpu==2.21.0", "keras==3.15.1", "numpy<3"]


def test_pre_releases_are_left_out_unless_asked_for():
    # Even a range that names a pre-release: only include_prereleases lets them in.
    assert _releases(_resolve(packages=["tensorflow-cpu>=2.21.0rc0"], every="patch")) == ["2.21.0"]
    asked = _resolve(packages=["tensorflow-cpu>=2.21.0rc0"], every="patch", include_prereleases=True)
    assert _releases(asked) == ["2.21.0rc0", "2.21.0rc1", "2.21.0", "2.22.0rc0"]


def test_yanked_releases_are_left_out_unless_asked_for():
    keys = dict(packages=["tf-keras>=2.19", "tensorflow-cpu==2.19.1"], every="patch")
    assert _releases(_resolve(**keys)) == ["2.19.0", "2.20.1", "2.21.0"]  # tf-keras 2.20.0 is yanked
    assert _releases(_resolve(include_yanked=True, **keys)) == ["2.19.0", "2.20.0", "2.20.1", "2.21.0"]
    assert "2.20.0" not in [str(r.version) for r in lock.releases(PYPI["tf-keras"])]


def test_python_is_the_newest_that_every_package_has_a_wheel_for_within_requires_python():
    entry = _resolve(name="tf{minor}", packages=["tensorflow-cpu>=2.12"])
    python = {env["release"]: env["python"] for env in entry["envs"]}
    # TF 2.12 to 2.15 ship wheels up to cp311, 2.16 to 2.19 up to cp312, 2.20 and 2.21 cp313.
    assert python == {"2.12.1": "3.11", "2.13.1": "3.11", "2.14.1": "3.11", "2.15.1": "3.11", "2.16.2": "3.12",
                      "2.17.1": "3.12", "2.18.1": "3.12", "2.19.1": "3.12", "2.20.0": "3.13", "2.21.0": "3.13"}
    assert entry["envs"][-1]["requires_python"] == {"tensorflow-cpu": ">=3.10"}
    assert entry["envs"][-1]["pythons"] == ["3.10", "3.11", "3.12", "3.13"]


def test_a_release_whose_requires_python_excludes_every_candidate_is_skipped_with_the_reason():
    entry = _resolve(packages=["keras>=3.12", "tensorflow-cpu==2.15.1"], python="3.10")
    assert _releases(entry) == ["3.12.4"]  # keras 3.13 and later: Requires-Python >=3.11
    assert entry["skipped"][0]["release"] == "3.15.1"
    assert "no wheel for CPython 3.10" in entry["skipped"][0]["why"]
    assert "Requires-Python >=3.11" in entry["skipped"][0]["why"]


def test_only_wheels_for_linux_x86_64_count():
    files = {f["filename"]: f for f in PYPI["tensorflow-cpu"]["releases"]["2.21.0"]}
    windows = lock.Release("tensorflow-cpu", lock.Version("2.21.0"),
                           (files["tensorflow_cpu-2.21.0-cp312-cp312-win_amd64.whl"],))
    linux = lock.Release("tensorflow-cpu", lock.Version("2.21.0"),
                         (files["tensorflow_cpu-2.21.0-cp312-cp312-manylinux_2_27_x86_64.whl"],))
    assert windows.wheel_for("3.12") is None
    assert linux.wheel_for("3.12") and linux.wheel_for("3.11") is None


def test_a_range_nothing_matches_or_a_missing_pin_is_an_error_naming_the_package():
    with pytest.raises(lock.LockError, match=r"templates.t.packages\[0\]: 'tensorflow-cpu>=2.30': no release"):
        _resolve(packages=["tensorflow-cpu>=2.30"])
    with pytest.raises(lock.LockError, match=r"packages\[1\]: 'keras==3.99.0': no such release"):
        _resolve(packages=["tensorflow-cpu>=2.16", "keras==3.99.0"])
    with pytest.raises(lock.LockError, match="no release of tensorflow-cpu>=2.12 installs"):
        _resolve(packages=["tensorflow-cpu>=2.12"], python="3.7")


@pytest.mark.parametrize("keys, message", [
    ({"packages": ["tensorflow-cpu==2.15.1"]}, "templates.t.packages: no decisive package"),
    ({"packages": ["tensorflow-cpu>=2.12"], "every": "patch", "name": "tf{minor}"}, "with every: patch use {release}"),
    ({"packages": ["tensorflow-cpu>=2.12; python_version>'3'"]}, "no marker, no URL"),
])
def test_templates_are_checked(keys, message):
    with pytest.raises(spec.SpecError, match=message.replace("{", r"\{").replace("}", r"\}")):
        _template(**keys)


def test_the_lock_is_written_and_spec_load_adds_its_environments(tmp_path):
    path = _write(tmp_path)
    document, lines = _lock(path)
    assert "since the last lock: new tf2.12-k2, tf2.13-k2, tf2.14-k2, tf2.15-k2; gone none" in lines
    written = json.loads((tmp_path / "matrix.lock.json").read_text())
    assert written == document and written["resolved_at"] == "2026-11-29"
    assert written["index"] == "https://pypi.org/pypi"
    loaded = spec.load(path)
    assert loaded.profiles["default"].envs == ("tf2.15", "tf2.12-k2", "tf2.13-k2", "tf2.14-k2", "tf2.15-k2")
    env = loaded.envs["tf2.13-k2"]
    assert (env.python, env.packages, env.description) == ("3.11", ("tensorflow-cpu==2.13.1",),
                                                           "Keras 2.13 inside TF 2.13.1")
    again = _lock(path)[1]
    assert not any(line.startswith("since the last lock") for line in again)  # unchanged: nothing new


def test_dry_run_writes_nothing(tmp_path):
    path = _write(tmp_path)
    _, lines = _lock(path, "--dry-run")
    assert not (tmp_path / "matrix.lock.json").exists()
    assert lines[-1].startswith("dry run:")
    assert any("tf2.15-k2: python 3.11, tensorflow-cpu==2.15.1" in line for line in lines)


def test_without_a_lock_spec_load_says_to_run_nox_lock(tmp_path):
    with pytest.raises(spec.SpecError, match=r"no lock file matrix.lock.json next to matrix.yaml; run `nox -s lock`"):
        spec.load(_write(tmp_path))


def test_a_template_changed_since_locking_says_to_run_nox_lock(tmp_path):
    path = _write(tmp_path)
    _lock(path)
    _write(tmp_path, MATRIX.replace("<2.16", "<2.15"))
    with pytest.raises(spec.SpecError, match=r"templates.keras2 changed since matrix.lock.json was resolved "
                                             r"\(2026-11-29\); run `nox -s lock`"):
        spec.load(path)
    _write(tmp_path, MATRIX.replace("Keras {minor} inside", "Keras {minor}, in"))
    assert spec.load(path).envs["tf2.12-k2"].description == "Keras 2.12, in TF 2.12.1"  # no new lock needed
    _write(tmp_path, MATRIX.replace("keras2", "other"))
    with pytest.raises(spec.SpecError, match=r"templates.other: not in matrix.lock.json"):
        spec.load(path)
    (tmp_path / "matrix.lock.json").write_text("{}")
    with pytest.raises(spec.SpecError, match=r"matrix.lock.json is not a lock file .*; run `nox -s lock`"):
        spec.load(path)


def _first_env(lock_document):
    return lock_document["templates"]["keras2"]["envs"][0]


@pytest.mark.parametrize("edit, message", [
    (lambda d: d["templates"].update(keras2="x"),
     "templates.keras2: matrix.lock.json holds no list of its environments"),
    (lambda d: d["templates"]["keras2"].update(envs=[]), "holds no list of its environments"),
    (lambda d: _first_env(d).pop("python"), "envs[0] is not an environment: name, release and python (strings)"),
    (lambda d: _first_env(d).update(name=5), "envs[0] is not an environment"),
    (lambda d: d["templates"]["keras2"]["envs"].__setitem__(0, "tf2.12-k2"), "envs[0] is not an environment"),
    (lambda d: _first_env(d).update(python="3"), "envs[0] (tf2.12-k2) has python '3', not a version like"),
    (lambda d: _first_env(d).update(release="x.y"), "envs[0] (tf2.12-k2) has release 'x.y', not a version"),
    (lambda d: _first_env(d).update(name="tf-renamed"), "envs[0] (tf-renamed) should be named 'tf2.12-k2' for "
                                                         "release 2.12.1"),
    (lambda d: _first_env(d).update(packages=["tensorflow-cpu==2.9.3"]),
     "envs[0] (tf2.12-k2) has 'tensorflow-cpu==2.9.3', not tensorflow-cpu pinned to release 2.12.1 within the "
     "template's 'tensorflow-cpu>=2.12,<2.16'"),
    (lambda d: _first_env(d).update(packages=["tensorflow-cpu==2.13.1"]), "pinned to release 2.12.1 within"),
    (lambda d: _first_env(d).update(packages=["tensorflow-cpu>=2.12"]), "pinned to release 2.12.1 within"),
    (lambda d: _first_env(d).update(packages=["tensorflow-cpu==2.12.1", "numpy<2"]), "has 2 packages; the "
                                                                                    "template has 1"),
])
def test_an_edited_or_damaged_lock_is_one_error_saying_to_lock_again(tmp_path, edit, message):
    """A lock file valid as JSON but not what `nox -s lock` writes for the template: one SpecError (the
    noxfile turns it into a line, and `nox -s lock` still runs), never a traceback or an environment
    outside the template's ranges."""
    path = _write(tmp_path)
    document, _ = _lock(path)
    edit(document)
    (tmp_path / "matrix.lock.json").write_text(json.dumps(document))
    with pytest.raises(spec.SpecError) as error:
        spec.load(path)
    assert message in str(error.value)
    assert str(error.value).endswith("the file was edited or is damaged: run `nox -s lock` to write it again")
    assert _lock(path)[0]["templates"]["keras2"]["envs"][0]["name"] == "tf2.12-k2"  # and locking repairs it


def test_locked_environments_are_checked_as_environments(tmp_path):
    # TF 2.16 and later install the newest Keras 3 unless Keras is pinned: validation.check_env says so.
    path = _write(tmp_path, MATRIX.replace("<2.16", "<2.17"))
    with pytest.raises(spec.SpecError, match=r"templates.keras2 \(locked as tf2.16-k2\).packages: "
                                             r"tensorflow-cpu==2.16.2 installs the newest Keras 3"):
        _lock(path)
    assert not (tmp_path / "matrix.lock.json").exists()
    # Named like an environment of envs: that one stands, and the lock says where its pins differ.
    path = _write(tmp_path, MATRIX.replace('"tf{minor}-k2"', '"tf{minor}"'))
    document, lines = _lock(path)
    loaded = spec.load(path, lock=document)
    assert loaded.profiles["default"].envs == ("tf2.15", "tf2.12", "tf2.13", "tf2.14")
    assert loaded.envs["tf2.15"].python == "3.11" and not any("stands" in line for line in lines)
    path = _write(tmp_path, MATRIX.replace('"tf{minor}-k2"', '"tf{minor}"').replace("==2.15.1", "==2.15.0"))
    document, lines = _lock(path)
    assert spec.load(path, lock=document).envs["tf2.15"].packages == ("tensorflow-cpu==2.15.0",)
    assert "tf2.15: envs.tf2.15 of matrix.yaml stands, pinning tensorflow-cpu==2.15.0 where the template " \
        "resolves tensorflow-cpu==2.15.1" in lines


def test_lock_of_the_shipped_matrix_matches_its_templates():
    from harness.config.matrix_yaml import DEFAULT_MATRIX
    loaded = spec.load(DEFAULT_MATRIX)
    locked = json.loads(env_templates.lock_path(DEFAULT_MATRIX).read_text())
    newest = [env["name"] for env in locked["templates"]["tf-keras3-newest"]["envs"]]
    assert newest and set(newest) <= set(loaded.profiles["nightly"].envs)
    assert not set(newest) & (set(loaded.profiles["default"].envs) | set(loaded.profiles["quick"].envs))
    atlas = loaded.profiles["atlas"].envs
    assert len(atlas) >= 35 and len(set(atlas)) == len(atlas)
    names = [env["name"] for key, entry in locked["templates"].items() if key != "tf-keras3-newest"
             for env in entry["envs"]]
    assert set(names) <= set(atlas)
    # Where a template locks an environment matrix.yaml defines with the same pins, that one stands.
    assert loaded.envs["tf2.16-tfkeras"].python == "3.11" and loaded.envs["keras3.15-jax"].python == "3.12"


def test_same_minor_pairs_each_tf_keras_with_tensorflow_of_its_minor():
    entry = _resolve(name="tf{minor}-tfkeras", packages=["tf-keras>=2.16", "tensorflow-cpu>=2.16"],
                     others="same_minor")
    pairs = {env["name"]: env["packages"] for env in entry["envs"]}
    assert pairs["tf2.17-tfkeras"] == ["tf-keras==2.17.0", "tensorflow-cpu==2.17.1"]
    assert pairs["tf2.21-tfkeras"] == ["tf-keras==2.21.0", "tensorflow-cpu==2.21.0"]
    # With the default rule every tf-keras would take the newest TF.
    newest = _resolve(name="tf{minor}-tfkeras", packages=["tf-keras>=2.16", "tensorflow-cpu>=2.16"])
    assert {env["packages"][1] for env in newest["envs"]} == {"tensorflow-cpu==2.21.0"}


def test_contemporary_takes_the_jax_that_was_newest_when_the_keras_minor_came_out():
    entry = _resolve(name="keras{minor}-jax", packages=["keras>=3", "jax[cpu]>=0.4", "jaxlib>=0.4"],
                     others="contemporary")
    envs = {env["name"]: env for env in entry["envs"]}
    assert len(envs) == 16
    # Keras 3.0.0 came out 2023-11-28, JAX 0.4.20 on 2023-11-02 and 0.4.21 on 2023-12-04; 3.0.5 takes
    # 0.4.20 too (every patch of a minor the same JAX), on the newest Python jaxlib 0.4.20 has a wheel for.
    assert envs["keras3.0-jax"]["packages"] == ["keras==3.0.5", "jax[cpu]==0.4.20", "jaxlib==0.4.20"]
    assert envs["keras3.0-jax"]["python"] == "3.12"
    assert envs["keras3.15-jax"]["packages"] == ["keras==3.15.1", "jax[cpu]==0.10.2", "jaxlib==0.10.2"]


def test_only_prereleases_keeps_a_release_candidate_newer_than_every_final_release():
    entry = _resolve(name="tf{release}-keras3", packages=["tensorflow-cpu>=2.16", "keras>=3"], only_prereleases=True)
    assert [env["name"] for env in entry["envs"]] == ["tf2.22.0rc0-keras3"]
    # No Keras 3 pre-release is newer than 3.15.1: no environment, and no error.
    assert _resolve(name="keras{release}", packages=["keras>=3"], only_prereleases=True)["envs"] == []


class _Index(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        status, body = (200, b"not json") if self.path.startswith("/garbled/") else (404, b"{}")
        self.send_response(status)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_index_errors_name_the_package_and_the_url():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}"
    try:
        with pytest.raises(lock.LockError, match=rf"cannot resolve Keras: {url}/keras/json: no such project"):
            lock.fetch("Keras", url)
        with pytest.raises(lock.LockError, match=rf"{url}/garbled/keras/json did not answer JSON"):
            lock.fetch("keras", f"{url}/garbled")
    finally:
        server.shutdown()
        server.server_close()
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(lock.LockError, match=rf"cannot resolve keras: http://127.0.0.1:{port}/keras/json did not "
                                             "answer .*check the network"):
        lock.fetch("keras", f"http://127.0.0.1:{port}", timeout_s=2)


WHEEL = {"filename": "keras-3.0.0-py3-none-any.whl", "packagetype": "bdist_wheel"}


@pytest.mark.parametrize("releases", [{"3.0.0": {"filename": "x"}}, {"3.0.0": [WHEEL["filename"]]},
                                      {"3.0.0": [{"packagetype": "bdist_wheel"}]}, {"3.0.0": [dict(WHEEL, filename=5)]},
                                      {"3.0.0": [dict(WHEEL, requires_python=3)]}])
def test_an_index_answering_in_another_shape_is_one_lock_error(releases):
    """Files that are not objects with a filename, or a Requires-Python that is no text, count for nothing."""
    template = _template(name="k{minor}", packages=["keras>=3"])
    with pytest.raises(lock.LockError, match=r"^templates\.t(\.packages\[0\]: 'keras>=3': no release in that "
                                             r"range|: no release of keras>=3 installs)"):
        lock.resolve(template, lambda name: {"info": [], "releases": releases})
    resolved = lock.resolve(template, lambda name: {"info": [], "releases": {"3.0.0": [WHEEL]}})
    assert resolved["envs"][0]["name"] == "k3.0"


@pytest.mark.parametrize("url", ["pypi.org/pypi", "notaurl", "http://", "http://[::1", "ftp://mirror/pypi"])
def test_an_index_url_that_is_no_url_is_one_error_before_anything_is_asked(tmp_path, url):
    with pytest.raises(lock.LockError, match=re.escape(f"--index-url (or $KCM_INDEX_URL) {url!r}: not a URL like "
                                                       "https://pypi.org/pypi")):
        lock.main(["--index-url", url], _write(tmp_path), log=lambda _: None)


def _pypi_reachable() -> bool:
    try:
        socket.create_connection(("pypi.org", 443), timeout=2).close()
        return True
    except OSError:
        return False


@pytest.mark.network
@pytest.mark.skipif(not _pypi_reachable(), reason="pypi.org is not reachable")
def test_the_real_index_still_has_tf_keras_2_20_0_yanked():
    document = lock.fetch("tf-keras", timeout_s=5)
    versions = {str(r.version) for r in lock.releases(document)}
    assert {"2.19.0", "2.20.1"} <= versions and "2.20.0" not in versions
