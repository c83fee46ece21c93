"""The worker's protocol is declared once (harness/worker/protocol.py): the tasks the host writes have
exactly its keys, the host reads its verdicts, and the worker writes no verdict it does not declare."""
import re

import pytest

from harness import ROOT, run
from harness.check import check_plan, steps
from harness.config import spec
from harness.config.matrix_yaml import DEFAULT_MATRIX
from harness.report import results
from harness.worker import catalog, protocol

SPEC = spec.load(DEFAULT_MATRIX)
# What the supervisor adds to every task (harness/execute/supervisor.py, _run_cells).
SUPERVISED = {"cells": [], "results_path": "r", "progress_path": "p", "facts_path": "f", "stop_path": "s"}


def test_the_matrix_tasks_have_exactly_the_protocols_keys(tmp_path):
    ctx = run.Context.from_args(["--profile", "quick", "--workdir", str(tmp_path)])
    for phase in ("produce", "consume"):
        assert protocol.task_problem(dict(ctx.task(phase, "tf2.15"), **SUPERVISED)) is None


def test_the_check_task_has_exactly_the_protocols_keys(model, tmp_path):
    planned = steps.plan([str(model), "--workdir", str(tmp_path / "w"), "--call", "load_model(path, compile=False)"],
                         SPEC)
    task = dict(planned.task("tf2.15"), **SUPERVISED)
    assert protocol.task_problem(task) is None and task["call"] == {"compile": False}


def test_a_task_from_another_commit_is_named():
    task = dict(SUPERVISED, phase="consume", env="e", seed=1, device="cpu", fixtures={}, artifacts_dir="a",
                shiny="new")
    del task["facts_path"]
    assert protocol.task_problem(task) == "a consume task lacks facts_path; has unknown keys shiny"
    assert protocol.task_problem({"phase": "bake"}) == "phase 'bake' is none of produce, consume, check"


def test_the_host_reads_the_workers_verdicts_and_fields():
    assert set(protocol.CELL_VERDICTS) <= set(results.VERDICTS)
    assert set(protocol.SAVE_VERDICTS) <= set(results.SAVE_VERDICTS)
    assert results.TEXT_FIELDS is protocol.TEXT_FIELDS and results.NUMBER_FIELDS is protocol.NUMBER_FIELDS
    assert protocol.WORKS_WITH in results.FAILURES


def test_the_worker_writes_only_declared_verdicts():
    declared = set(protocol.CELL_VERDICTS + protocol.SAVE_VERDICTS + protocol.CHECK_VERDICTS
                   + protocol.CONTROL_VERDICTS)
    written = set()
    for path in (ROOT / "harness" / "worker").glob("*.py"):
        written |= set(re.findall(r'"verdict":\s*"([a-z-]+)"', path.read_text()))
        written |= set(re.findall(r'verdict="([a-z-]+)"', path.read_text()))
    assert written and written <= declared, written - declared


def test_every_loader_names_its_call_and_its_changes_are_known():
    assert set(catalog.CALLS) == set(catalog.FAMILY)
    assert catalog.CALLS["load_model"] == "keras.models.load_model(path)"
    assert [c.name for c in catalog.CHANGES["load_model"]] == ["compile=False", "safe_mode=False",
                                                                "compile=False, safe_mode=False"]
    assert catalog.UNSAFE_CHANGES == ("safe_mode=False", "compile=False, safe_mode=False")


@pytest.mark.parametrize("text, call", [
    ("load_model(path)", {}),
    ("keras.models.load_model('m.h5', compile=False)", {"compile": False}),
    ("tf.keras.models.load_model(p, compile=False, safe_mode=False)", {"compile": False, "safe_mode": False}),
])
def test_a_users_call_is_parsed_never_run(text, call):
    assert check_plan.parse_call(text) == call


@pytest.mark.parametrize("text, message", [
    ("load_model(path, compile=0)", "compile=0 is not one the check can pass"),
    ("load_model(path, custom_objects=co)", "custom_objects=co is not one"),
    ("torch.load(path)", "not a call of load_model"),
    ("load_model(path", "not a Python call"),
    ("load_model(a, b)", "takes the path as its one positional argument"),
    ("__import__('os').system('x')", "not a call of load_model"),
])
def test_a_call_the_check_cannot_make_is_bad_input(text, message):
    with pytest.raises(check_plan.UserInputError, match=re.escape(message)):
        check_plan.parse_call(text)
