"""The advisories table (harness/check/security/advisories.yaml): its schema, its version logic, and the
verdict per target.

Each advisory's ranges are checked at its edges: the last affected and the first fixed tag of every
release line, as found in keras-team/keras with ``git tag --contains <fix commit>`` (each row's ``fix``
and ``sources``); planted faults in a copy of the table show the verdicts come from the table.
"""

import pytest
import yaml
from packaging.version import Version

from harness.check.modelfile import UserInputError
from harness.check.security.advisories import (ADVISORIES, BLOCKED, FOLLOWS, NEEDS, NOTHING, RUNS, Target,
                                               load_advisories, verdict)
from harness.check.security.model import KINDS, Finding, ScannedFile

TABLE = load_advisories()
BY_ID = {a.id: a for a in TABLE}


def k3(version):
    return Target(f"keras=={version}", "keras3", Version(version))


EFFECTS = {"lambda": "code", "function_reference": "code", "function_by_table": "code", "custom_class": "code",
           "tfsm_layer": "code",
           "hdf5_external_dataset": "path", "hdf5_external_link": "path", "hdf5_virtual_dataset": "path",
           "oversized_dataset": "resource", "torch_module_wrapper": "code", "npz_object_array": "code",
           "layer_name_traversal": "path", "lambda_keras_function": "code"}


def scanned(container, *kinds, fmt=None):
    return ScannedFile("m", container, fmt or ("keras" if container == "zip" else "h5"),
                       [Finding(k, EFFECTS[k], "x", "y") for k in kinds])


def test_the_table_holds_the_keras_load_path_advisories_each_with_a_link_and_its_fix_commits():
    assert {"CVE-2024-3660", "CVE-2025-1550", "CVE-2025-8747", "CVE-2025-9905", "CVE-2025-9906", "CVE-2025-49655",
            "CVE-2025-12058", "CVE-2026-0897", "CVE-2026-1462", "CVE-2026-1669", "CVE-2026-12480", "CVE-2026-12570",
            "CVE-2026-12479", "KCM-2025-NPZ-PICKLE", "KCM-2026-H5-LINK", "KCM-2026-H5-LEGACY-WEIGHTS",
            "KCM-2026-FROM-CONFIG"} <= set(BY_ID)
    for row in TABLE:
        assert row.link.startswith("https://") and row.sources and "assum" not in row.sources, row.id
        assert set(row.features) <= set(KINDS), row.id
        assert row.fix and all(f.startswith("keras-team/") for f in row.fix), row.id


# The last affected and first fixed tag of each line, read in the release code (see each row's sources).
@pytest.mark.parametrize("advisory, affected, not_affected", [
    ("CVE-2024-3660", ["2.4", "2.11.0"], ["2.12.0", "2.15.0", "3.0.0"]),  # the record says <2.13
    ("CVE-2025-1550", ["3.0.0", "3.8.0"], ["2.15.0", "3.9.0", "3.15.0"]),
    ("CVE-2025-8747", ["3.0.0", "3.10.0"], ["3.11.0"]),
    ("CVE-2025-9905", ["3.3.3", "3.11.2"], ["3.11.3", "3.12.0"]),
    ("CVE-2025-9906", ["3.0.0", "3.10.0"], ["3.11.0"]),
    ("CVE-2025-49655", ["3.0.0", "3.9.0", "3.10.0", "3.11.2"], ["3.11.3", "3.12.0"]),  # the record: 3.11.0 on
    ("CVE-2025-12058", ["3.0.0", "3.11.3"], ["3.12.0"]),
    ("CVE-2026-0897", ["3.6.0", "3.12.0", "3.13.0", "3.13.1"], ["3.5.0", "3.12.1", "3.13.2"]),
    ("CVE-2026-12570", ["3.0.0", "3.12.2", "3.13.0", "3.14.1"], ["3.12.3", "3.15.0"]),
    ("CVE-2026-1462", ["3.0.0", "3.12.0", "3.13.0", "3.13.1"], ["3.12.1", "3.13.2", "3.15.0"]),
    ("CVE-2026-1669", ["3.0.0", "3.12.0", "3.13.1"], ["3.12.1", "3.12.4", "3.13.2", "2.15.0"]),
    ("CVE-2026-12480", ["3.12.1", "3.13.2", "3.14.0"], ["3.12.2", "3.14.1"]),
    ("CVE-2026-12479", ["3.0.0", "3.12.2", "3.14.1"], ["3.12.3", "3.15.0"]),
    ("KCM-2026-H5-LINK", ["3.12.1", "3.13.2", "3.14.0"], ["3.12.2", "3.14.1"]),
    ("KCM-2026-H5-LEGACY-WEIGHTS", ["3.12.2", "3.14.1"], ["3.12.3", "3.15.0"]),
    ("KCM-2025-NPZ-PICKLE", ["2.12.0", "2.15.0", "3.0.0", "3.8.0"], ["2.11.0", "3.9.0"]),
])
def test_version_ranges_at_their_edges(advisory, affected, not_affected):
    row = BY_ID[advisory]
    assert all(row.affects("keras", Version(v)) for v in affected)
    assert not any(row.affects("keras", Version(v)) for v in not_affected)
    assert not row.affects("tf-keras", Version(affected[0]))  # another package


def test_an_os_function_in_a_keras_zip_runs_in_keras_3_8_and_is_blocked_in_3_15():
    found = scanned("zip", "function_reference")
    old, new = verdict(found, k3("3.8.0"), TABLE), verdict(found, k3("3.15.0"), TABLE)
    assert (old.verdict, [a.id for a in old.advisories]) == (RUNS, ["CVE-2025-1550"])
    assert (new.verdict, new.advisories) == (BLOCKED, ())


@pytest.mark.parametrize("target, container, expected, advisories", [
    (k3("3.3.3"), "hdf5", RUNS, ["CVE-2025-9905"]),
    (k3("3.15.0"), "hdf5", BLOCKED, []),
    (k3("3.3.3"), "zip", BLOCKED, []),
    (Target("tf2.10", "keras2", Version("2.10")), "zip", RUNS, ["CVE-2024-3660"]),
    (Target("tf2.12", "keras2", Version("2.12")), "zip", BLOCKED, []),
    (Target("tf2.15", "keras2", Version("2.15")), "zip", BLOCKED, []),
    (Target("tf2.15", "keras2", Version("2.15")), "hdf5", RUNS, []),
    (Target("tfk", "tf_keras", Version("2.16.0")), "hdf5", RUNS, []),
    (Target("tfk", "tf_keras", Version("2.16.0")), "zip", BLOCKED, []),
])
def test_a_lambda_per_target_and_container(target, container, expected, advisories):
    result = verdict(scanned(container, "lambda"), target, TABLE)
    assert (result.verdict, [a.id for a in result.advisories]) == (expected, advisories)


@pytest.mark.parametrize("version, expected", [("3.12.0", RUNS), ("3.12.1", BLOCKED), ("3.13.1", RUNS),
                                               ("3.13.2", BLOCKED)])
def test_a_tfsm_layer_runs_where_cve_2026_1462_applies(version, expected):
    assert verdict(scanned("zip", "tfsm_layer"), k3(version), TABLE).verdict == expected
    assert verdict(scanned("zip", "tfsm_layer"), Target("tf2.15", "keras2", Version("2.15")), TABLE).verdict == BLOCKED


def test_paths_are_followed_until_the_fix_of_the_targets_line_and_resources_only_list_their_advisory():
    found = scanned("zip", "hdf5_external_dataset", "oversized_dataset")
    old, new = verdict(found, k3("3.13.1"), TABLE), verdict(found, k3("3.15.0"), TABLE)
    assert old.verdict == FOLLOWS and {a.id for a in old.advisories} == {"CVE-2026-1669", "CVE-2026-12570"}
    assert new.verdict == BLOCKED and "CVE-2026-1669 fixed in Keras 3.13.2" in new.reasons[0]
    assert verdict(found, k3("3.12.1"), TABLE).verdict == BLOCKED  # measured: the canary is refused there
    assert verdict(scanned("hdf5", "hdf5_external_dataset"), k3("3.13.2"), TABLE).verdict == FOLLOWS  # legacy .h5
    assert verdict(scanned("zip", "oversized_dataset"), k3("3.13.0"), TABLE).verdict == NOTHING
    assert verdict(found, Target("tf2.15", "keras2", Version("2.15")), TABLE).verdict == FOLLOWS


@pytest.mark.parametrize("version, fmt, loader, expected", [
    ("3.13.2", "keras", "load_model", FOLLOWS),  # CVE-2026-1669 fixed there; the link (#22801) not before 3.14.1
    ("3.14.1", "keras", "load_model", BLOCKED),
    ("3.12.2", "h5", "load_model", BLOCKED),
    ("3.12.2", "h5", "load_weights", FOLLOWS),  # saving_api's f["model_weights"]: fixed 3.12.3 (#22900)
    ("3.12.3", "h5", "load_weights", BLOCKED),
    ("3.14.1", "h5", "load_weights", FOLLOWS),
    ("3.15.0", "h5", "load_weights", BLOCKED),
    ("3.13.2", "keras_weights", None, FOLLOWS),
])
def test_an_external_link_by_container_format_and_loader(version, fmt, loader, expected):
    found = scanned("zip" if fmt == "keras" else "hdf5", "hdf5_external_link", fmt=fmt)
    assert verdict(found, k3(version), TABLE, loader).verdict == expected


@pytest.mark.parametrize("version, expected", [("3.8.0", RUNS), ("3.9.0", BLOCKED), ("3.15.1", BLOCKED)])
def test_an_npz_object_array_runs_in_keras_3_8_even_with_safe_mode(version, expected):
    assert verdict(scanned("zip", "npz_object_array"), k3(version), TABLE).verdict == expected
    assert verdict(scanned("zip", "npz_object_array"), Target("tf2.15", "keras2", Version("2.15")),
                   TABLE).verdict == RUNS


def test_a_class_from_the_users_module_needs_custom_objects_from_keras_3_9_and_runs_its_import_before():
    found = scanned("zip", "custom_class")
    assert verdict(found, k3("3.8.0"), TABLE).verdict == RUNS
    new = verdict(found, k3("3.9.0"), TABLE)
    assert new.verdict == NEEDS and "custom_objects" in new.reasons[0]
    assert verdict(scanned("zip", "custom_class", "lambda"), k3("3.9.0"), TABLE).verdict == BLOCKED


def test_the_torch_module_wrapper_pickle_runs_through_3_11_2_whatever_the_record_says():
    found = scanned("zip", "torch_module_wrapper")
    assert [verdict(found, k3(v), TABLE).verdict for v in ("3.9.0", "3.10.0", "3.11.2", "3.11.3")] == \
        [RUNS, RUNS, RUNS, BLOCKED]


def test_a_lambda_calling_get_file_writes_files_until_3_11():
    found = scanned("zip", "lambda_keras_function")
    assert verdict(found, k3("3.10.0"), TABLE).verdict == FOLLOWS
    assert verdict(found, k3("3.11.0"), TABLE).verdict == BLOCKED


def test_nothing_found_is_nothing_found():
    assert verdict(scanned("zip"), k3("3.0.0"), TABLE).verdict == NOTHING


def _copy(tmp_path, edit):
    data = yaml.safe_load(ADVISORIES.read_text())
    edit(data["advisories"])
    path = tmp_path / "advisories.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_a_function_keras_looks_up_by_name_runs_nowhere_in_keras_3_and_counts_as_imported_in_keras_2():
    found = scanned("zip", "function_by_table")
    for version in ("3.0.0", "3.8.0", "3.15.1"):
        result = verdict(found, k3(version), TABLE)
        assert (result.verdict, result.advisories) == (BLOCKED, ()), version
    assert verdict(found, Target("tf==2.15", "keras2", Version("2.15.0")), TABLE).verdict == RUNS


def test_a_planted_range_changes_the_verdict(tmp_path):
    def narrow(rows):
        next(r for r in rows if r["id"] == "CVE-2025-1550")["affected"] = [">=3.0.0,<3.8.0"]
    table = load_advisories(_copy(tmp_path, narrow))
    result = verdict(scanned("zip", "function_reference"), k3("3.8.0"), table)
    assert (result.verdict, result.advisories) == (BLOCKED, ())


@pytest.mark.parametrize("edit, message", [
    (lambda rows: rows[0].update(affected=["not a range"]), "advisories/0 \\(CVE-2024-3660\\)"),
    (lambda rows: rows[1].pop("link"), "advisories/1: 'link' is a required property"),
    (lambda rows: rows[2].update(link="http://example.com"), "advisories/2/link"),
    (lambda rows: rows[3].update(fixed=["three"]), "advisories/3/fixed/0"),
    (lambda rows: rows[3].update(fixed=["3.0.1"]), "fixed 3.0.1 is inside its affected ranges"),
    (lambda rows: rows[3].update(loaders=["pickle.load"]), "advisories/3/loaders/0"),
    (lambda rows: rows[4].update(containers=["tarball"]), "advisories/4/containers/0"),
])
def test_a_broken_table_is_one_bad_input_naming_the_row(tmp_path, edit, message):
    with pytest.raises(UserInputError, match=message):
        load_advisories(_copy(tmp_path, edit))
