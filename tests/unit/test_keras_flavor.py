"""One rule for which Keras an environment runs (``spec.keras_flavor``), checked against what real
workers recorded: the default run's facts (tests/data/run-default) and the committed goldens."""
import json

import pytest
from packaging.version import Version

from harness import ROOT
from harness.check import check_plan
from harness.config import spec
from harness.config.matrix_yaml import DEFAULT_MATRIX
from harness.execute import golden

SHIPPED = spec.load(DEFAULT_MATRIX)
RECORDED = ROOT / "tests" / "data" / "run-default" / "results"
ENVS = sorted({p.name.split("-", 1)[1][:-len(".facts.json")] for p in RECORDED.glob("*.facts.json")})


@pytest.mark.parametrize("env", ENVS)
def test_the_pins_give_the_keras_the_worker_recorded(env):
    facts = json.loads((RECORDED / f"consume-{env}.facts.json").read_text())
    versions = SHIPPED.envs[env].versions()
    assert spec.keras_flavor(versions) == facts["keras_flavor"]
    assert versions["keras"].release[:2] == Version(facts["keras"]).release[:2]
    planned = check_plan.env_versions(SHIPPED.envs[env])
    assert (planned.flavor, planned.keras) == (facts["keras_flavor"], versions["keras"])


def test_the_recorded_environments_cover_every_flavor():
    assert {json.loads((RECORDED / f"consume-{e}.facts.json").read_text())["keras_flavor"] for e in ENVS} == \
        {"keras2", "tf_keras", "keras3"}


def test_a_golden_gives_back_the_flavor_it_recorded():
    found = golden.discover(ROOT / "fixtures" / "golden")
    assert found
    for gold in found.values():
        assert spec.keras_flavor(gold.versions()) == gold.facts["keras_flavor"]
    # A golden of a tf_keras environment (none is committed): the facts a tf2.16-tfkeras worker recorded.
    facts = json.loads((RECORDED / "produce-tf2.16-tfkeras.facts.json").read_text())
    tf_keras = golden.Golden("golden-tf2.16-tfkeras", ROOT, facts, "2026-11-29", ())
    assert spec.keras_flavor(tf_keras.versions()) == "tf_keras"


def test_no_keras_version_is_no_flavor():
    assert spec.keras_flavor({"tensorflow": Version("2.15.1")}) is None
