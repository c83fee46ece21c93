"""The pre-release column is reported apart and never fails a run (harness/report/prerelease.py), replayed on
the records of the default profile of 2026-12-07 with one failure no entry explains planted in it."""

import dataclasses

from test_expectation_keys import SHIPPED, _copy, _data

from harness.report.prerelease import prerelease_envs



def test_the_shipped_atlas_sets_the_release_candidates_apart():
    apart = prerelease_envs(SHIPPED, SHIPPED.profiles["atlas"].envs)
    assert apart == {"tf2.22.0rc0-keras3"}  # the lock of 2026-12-07: TF 2.22.0rc0, no Keras 3 candidate
    assert not prerelease_envs(SHIPPED, SHIPPED.profiles["nightly"].envs)


def test_a_pre_release_failure_is_noted_and_fails_nothing(tmp_path):
    workdir = _copy(tmp_path, "run-default-2026-12-07")
    # Plant it: the first entry no longer explains anything, so a real failure of the run goes unexplained.
    entries = [dataclasses.replace(e, index=i) for i, e in enumerate(SHIPPED.expected_failures)]
    data = _data(workdir, entries)
    assert data.problems() == []
    broken = _data(workdir, [e for e in entries if e.formats != ("h5", "keras", "json")])
    failing = broken.unexpected_failures
    assert failing and broken.problems()
    producers = {c.producer for c in failing}
    apart = dataclasses.replace(broken, apart=frozenset(producers))
    assert apart.unexpected_failures == [] and apart.problems() == []
    (note,) = apart.apart_notes()
    assert note.startswith(f"pre-release, not failing: {len(failing)} failing cells no entry explains (")
    # The same failures with no environment set apart fail the run: the planted fault is seen.
    assert dataclasses.replace(apart, apart=frozenset()).problems() == broken.problems()
