"""Tolerance of a cell: matrix.yaml's default, the fixture's TOLERANCE, and overrides by specificity."""
import dataclasses
import textwrap

from pathlib import Path

import pytest

from harness import ROOT
from harness.config import spec
from harness.config.tolerance import Tolerance, ToleranceOverride, ToleranceRules
from harness.execute.plan import CONTROL_FORMAT, consume_cells, select

RULES = ToleranceRules(Tolerance(atol=1e-5, rtol=1e-4), (
    ToleranceOverride(fixtures=("mixed_precision",), atol=1e-2, rtol=1e-2),
    ToleranceOverride(device_pairs=("gpu>cpu",), atol=1e-4),
    ToleranceOverride(fixtures=("mixed_precision",), device_pairs=("gpu>cpu",), atol=5e-2),
    ToleranceOverride(formats=("h5", "keras"), backends=("jax",), rtol=1e-3),
))


def test_without_a_matching_override_the_default_applies():
    assert RULES.resolve("dense_bn", "h5", "tensorflow", "cpu>cpu") == Tolerance(1e-5, 1e-4)


def test_each_key_comes_from_the_most_specific_source_that_sets_it():
    # device_pair sets atol only: rtol stays the default.
    assert RULES.resolve("dense_bn", "h5", "tensorflow", "gpu>cpu") == Tolerance(1e-4, 1e-4)
    # fixture + device_pair (2 criteria) beats fixture alone and device_pair alone for atol;
    # rtol comes from the fixture-only override, the most specific that sets it.
    assert RULES.resolve("mixed_precision", "h5", "tensorflow", "gpu>cpu") == Tolerance(5e-2, 1e-2)
    # format + backend (2 criteria) sets rtol over the default.
    assert RULES.resolve("dense_bn", "keras", "jax", "cpu>cpu") == Tolerance(1e-5, 1e-3)


def test_equally_specific_sources_resolve_to_the_later_one():
    rules = ToleranceRules(Tolerance(), (ToleranceOverride(fixtures=("a",), atol=1.0),
                                         ToleranceOverride(formats=("h5",), atol=2.0)))
    assert rules.resolve("a", "h5", "tensorflow", "cpu>cpu").atol == 2.0
    reordered = dataclasses.replace(rules, overrides=rules.overrides[::-1])
    assert reordered.resolve("a", "h5", "tensorflow", "cpu>cpu").atol == 1.0


def test_the_readme_example():
    rules = ToleranceRules(Tolerance(1e-5, 1e-4), RULES.overrides[:2])
    assert rules.resolve("mixed_precision", "h5", "tensorflow", "gpu>cpu") == Tolerance(1e-4, 1e-2)


def test_the_fixture_tolerance_sits_between_the_default_and_the_overrides():
    own = {"atol": 3e-3}
    assert RULES.resolve("dense_bn", "h5", "tensorflow", "cpu>cpu", own) == Tolerance(3e-3, 1e-4)
    # An equally specific override (device_pair) is placed after it, so it wins the tie.
    assert RULES.resolve("dense_bn", "h5", "tensorflow", "gpu>cpu", own).atol == 1e-4
    # A matrix.yaml override naming the fixture wins over the fixture's own TOLERANCE.
    assert RULES.resolve("mixed_precision", "h5", "tensorflow", "cpu>cpu", own).atol == 1e-2


MATRIX = """
envs:
  tf2.15: {python: "3.11", packages: ["tensorflow-cpu==2.15.1"]}
  k3: {python: "3.12", packages: ["tensorflow-cpu==2.21.0", "keras==3.15.1"], backend: jax}
profiles:
  default: {envs: [tf2.15, k3]}
tolerance:
  atol: 1.0e-5
  rtol: 1.0e-4
  overrides:
    - {backend: jax, format: h5, atol: 1.0e-3}
    - {device_pair: "cpu>cpu", fixture: dense_bn, rtol: 2.0e-4}
"""


def _selection(tmp_path, text=MATRIX):
    path = tmp_path / "matrix.yaml"
    path.write_text(textwrap.dedent(text))
    loaded = spec.load(path)
    return select(loaded, ROOT / "fixtures", "default")


def test_consume_cells_carry_the_tolerance_of_their_consumer_backend_and_device_pair(tmp_path):
    selection = _selection(tmp_path)
    produced = [{"producer": "tf2.15", "fixture": "dense_bn", "format": f, "verdict": "saved"}
                for f in ("h5", "keras")]
    artifacts = Path("/work/artifacts")
    on_jax = {(c["format"]): (c["atol"], c["rtol"]) for c in consume_cells(selection, "k3", produced, artifacts)}
    assert on_jax["h5"] == (1e-3, 2e-4) and on_jax["keras"] == (1e-5, 2e-4)
    # The negative control takes the loosest of every selected format: fresh weights must fail even that.
    assert on_jax[CONTROL_FORMAT] == (1e-3, 2e-4)
    on_tf = {(c["format"]): (c["atol"], c["rtol"]) for c in consume_cells(selection, "tf2.15", produced, artifacts)}
    assert on_tf["h5"] == (1e-5, 2e-4) and on_tf[CONTROL_FORMAT] == (1e-5, 2e-4)


def test_an_override_naming_a_missing_fixture_is_refused(tmp_path):
    with pytest.raises(spec.SpecError, match=r"tolerance.overrides\[1\].fixture: no fixture dense_nb in"):
        _selection(tmp_path, MATRIX.replace("fixture: dense_bn", "fixture: dense_nb"))
