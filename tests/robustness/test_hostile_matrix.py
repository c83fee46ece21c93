"""Hostile matrix.yaml files: each is refused with one short line naming the file and key, quickly."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.config import spec

ROOT = Path(__file__).resolve().parents[2]
GOOD = """\
envs:
  tf2.15: {python: "3.11", packages: ["tensorflow-cpu==2.15.1"]}
  k3: {python: "3.12", packages: ["tensorflow-cpu==2.21.0", "keras==3.15.1"]}
profiles:
  default: {envs: [tf2.15, k3]}
"""
BOMB = (
    "".join(
        f"{a}: &{a} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['lol'] * 9)}]\n"
        for p, a in zip([None, *"abcdefgh"], "abcdefghi", strict=False)
    )
    + "envs: *i\nprofiles: {}\n"
)


def _error(tmp_path: Path, text: str) -> str:
    path = tmp_path / "matrix.yaml"
    path.write_text(text)
    with pytest.raises(spec.SpecError) as caught:
        spec.load(path)
    message = str(caught.value)
    assert "\n" not in message and len(message) < 700, message[:2000]
    return message


def test_a_billion_laughs_is_refused_at_once(tmp_path):
    assert len(BOMB) < 700
    started = time.monotonic()
    assert "its aliases expand past 200000 nodes" in _error(tmp_path, BOMB)
    assert time.monotonic() - started < 5


def test_a_bomb_that_fits_the_bound_still_quotes_no_more_than_a_line(tmp_path):
    anchors = ", ".join(
        f"&{a} [{', '.join([f'*{p}'] * 9) if p else ', '.join(['lol'] * 9)}]"
        for p, a in zip([None, *"abcd"], "abcde", strict=False)
    )  # 9^5 = 59,049 strings: under the bound
    assert ": envs: expected" in _error(tmp_path, f"envs: [{anchors}]\nprofiles: {{default: {{envs: [x]}}}}\n")


def test_an_alias_inside_itself_and_deep_nesting_are_refused(tmp_path):
    assert "an alias refers to a node that contains it" in _error(tmp_path, "envs: &a {x: [*a]}\nprofiles: {}\n")
    assert "nested too deeply to read" in _error(tmp_path, "envs: " + "[" * 100_000 + "\n")


def test_a_long_value_is_cut_in_the_message(tmp_path):
    message = _error(tmp_path, GOOD.replace("profiles:", f"seed: '{'x' * 100_000}'\nprofiles:"))
    assert message.startswith(f"{tmp_path / 'matrix.yaml'}: seed:") and "…" in message


def test_a_named_pipe_or_a_device_is_not_read(tmp_path):
    os.mkfifo(tmp_path / "matrix.yaml")
    with pytest.raises(spec.SpecError, match=r"matrix file .*matrix.yaml: is a named pipe \(FIFO\)"):
        spec.load(tmp_path / "matrix.yaml")
    with pytest.raises(spec.SpecError, match="matrix file /dev/zero: is a device"):
        spec.load(Path("/dev/zero"))


def test_nox_lists_its_sessions_over_a_bomb_and_says_why_once_per_line(tmp_path):
    (tmp_path / "matrix.yaml").write_text(BOMB)
    done = subprocess.run(
        [sys.executable, "-m", "nox", "-l"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, KCM_MATRIX=str(tmp_path / "matrix.yaml")),
    )
    assert done.returncode == 0
    assert "its aliases expand past" in done.stderr and len(done.stderr) < 2000


@pytest.mark.parametrize(
    "env, message",
    [
        ('{"A=B": "1"}', "envs.tf2.15.env: 'A=B' is not an environment variable name"),
        ('{"1X": "1"}', "'1X' is not an environment variable name"),
    ],
)
def test_environment_variable_names_a_process_cannot_hold_are_refused(tmp_path, env, message):
    text = GOOD.replace('packages: ["tensorflow-cpu==2.15.1"]', f'packages: ["tensorflow-cpu==2.15.1"], env: {env}')
    assert message in _error(tmp_path, text)


@pytest.mark.parametrize(
    "requirement", ["keras>=3,<2", "tensorflow>2.15,<2.15", "keras==3.1,==3.2", "tensorflow~=2.15.0,>=2.16"]
)
def test_an_expected_failure_that_can_never_match_is_refused(tmp_path, requirement):
    text = GOOD + (
        "expected_failures:\n"
        "  - {producer: '%s', consumer: 'keras>=3', error: x, reason: r, expires: 2099-01-01}\n" % requirement
    )
    assert f"expected_failures[0].producer: {requirement!r} matches no version" in _error(tmp_path, text)


@pytest.mark.parametrize(
    "requirement",
    ["keras>=3,<4", "tensorflow==2.15.1", "tensorflow>=2.15,<=2.15", "keras~=3.1", "tensorflow!=2.15.0", "keras==3.*"],
)
def test_ranges_that_can_match_are_kept(tmp_path, requirement):
    path = tmp_path / "matrix.yaml"
    path.write_text(
        GOOD
        + (
            "expected_failures:\n  - {producer: '%s', consumer: 'keras>=3', error: x, reason: r, "
            "expires: 2099-01-01}\n" % requirement
        )
    )
    assert spec.load(path).expected_failures[0].producer == requirement


@pytest.mark.parametrize("value", ["1e-300", "1e300", "0.5", "1000000000"])
def test_timeouts_out_of_range_are_refused(tmp_path, value):
    assert "timeouts.cell_s:" in _error(tmp_path, GOOD + f"timeouts: {{cell_s: {value}}}\n")
