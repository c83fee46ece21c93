"""A silent load of users' reports, run again for real (first seen in the quick profile on 2026-12-07,
tests/data/run-users-quick): load_weights(path, skip_mismatch=True) of a Keras 3.15 .weights.h5 in
Keras 2.15 raises nothing and assigns none of the model's variables (keras-team/keras#21676)."""
import pytest
from conftest import run_matrix

K3, K2 = "tf2.21-keras3.15", "tf2.15"


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """Keras 3.15 saves the nested subclassed tree's .weights.h5; Keras 2.15 reads it with each load_weights call."""
    return run_matrix(tmp_path_factory.mktemp("users"), "--envs", K3, K2, "--from", K3, "--to", K2,
                      "--fixtures", "nested_subclassed", "--formats", "keras_weights", "--no-goldens")


def test_skip_mismatch_assigns_0_of_26_variables_where_the_plain_call_fails(run):
    cells = {c["loader"]: c for c in run["cells"].values() if c["format"] == "keras_weights"}
    silent = cells["load_weights_skip_mismatch"]
    assert (silent["original_verdict"], silent["verdict"]) == ("mismatch", "xfail")
    assert (silent["variables_assigned"], silent["variables_total"]) == (0, 26) and silent["max_abs"] > 1
    assert silent["reason"].startswith("the load assigned 0 of 26 variables")
    for loader in ("load_weights", "load_weights_by_name"):
        assert cells[loader]["original_verdict"] == "load-error"
        assert "received 0 variables during loading" in cells[loader]["error_message"]
    assert run["results"]["problems"] == []
