"""expected_failures entries that match fixtures by their TAGS (``tags: [functional]``) convert the recorded
runs' cells exactly as the list of fixture names they replace did, and cover a new fixture by its tags alone."""

import dataclasses
import datetime
import json

import pytest
from test_expectation_keys import RUN_DATE, SHIPPED, _context, _copy, _data

from harness import report

# The YAML anchor `&functional` that matrix.yaml's entries named before they said `tags: [functional]`.
NAMED_BEFORE = ("bidirectional", "compiled_adam", "conv_family", "custom_activation", "custom_layer",
                "custom_objects_only", "dense_bn", "lambda_layer", "masked_embedding", "mixed_precision",
                "multi_io", "nested_model", "normalization_adapted", "recurrent", "shared_layers",
                "small_cnn", "string_lookup", "transformer_block", "twin_dense")
# Those entries (written 2026-11-29, expiring 2027-11-29); later entries say tags: [functional] from the start.
TAGGED = [e.index for e in SHIPPED.expected_failures
          if e.tags == ("functional",) and e.expires == datetime.date(2027, 11, 29)]


def _by_name(entries):
    """The entries as they were written before: the tag replaced by the fixtures' names."""
    return [dataclasses.replace(e, tags=None, fixtures=NAMED_BEFORE) if e.tags == ("functional",) else e
            for e in entries]


def _outcome(outcome) -> dict:
    """What an entry did: everything results.json says of it but how it names its fixtures."""
    return {k: v for k, v in outcome.to_json().items() if k not in ("fixture", "tags")}


def test_the_shipped_tagged_entries_are_those_that_named_every_functional_fixture():
    # 6 from the default profile's runs (later entries, of the Keras 3 minors and the new fixtures, say their tags)
    assert len(TAGGED) == 6 and all(SHIPPED.expected_failures[i].tags == ("functional",) for i in TAGGED)
    assert all(SHIPPED.expected_failures[i].fixtures is None for i in TAGGED)


@pytest.mark.parametrize("name", ["run-default", "run-quick-all"])
def test_replaying_a_recorded_run_gives_the_same_verdicts_with_tags_as_with_names(tmp_path, name):
    after = _data(_copy(tmp_path / "after", name))
    before = _data(_copy(tmp_path / "before", name), entries=_by_name(SHIPPED.expected_failures))
    assert len(after.cells) == len(before.cells) > 0 and len(after.saves) == len(before.saves)
    for a, b in zip(after.cells + after.saves, before.cells + before.saves, strict=True):
        assert dataclasses.asdict(a) == dataclasses.asdict(b), a.id
    assert [_outcome(o) for o in after.expectations] == [_outcome(o) for o in before.expectations]
    # the tagged entries do the work: they claim cells of every kind of fixture they name
    claimed = {c.fixture for i in TAGGED for c in after.expectations[i].xfail}
    assert claimed and claimed <= set(NAMED_BEFORE)
    assert after.problems() == before.problems() == []


def _plant(workdir, source, names):
    """Copy every recorded record of fixture ``source`` as a record of each of ``names`` (a new fixture
    that saved and loaded exactly as ``source`` did)."""
    for path in (workdir / "results").glob("*.jsonl"):
        records = [json.loads(line) for line in path.read_text().splitlines()]
        copies = [dict(r, fixture=new, id=r["id"].replace(f"/{source}/", f"/{new}/"))
                  for new in names for r in records if r.get("fixture") == source]
        path.write_text("".join(json.dumps(r) + "\n" for r in records + copies))


def test_a_new_fixture_is_covered_by_its_functional_tag_and_one_without_it_is_not(tmp_path):
    workdir = _copy(tmp_path, "run-default")
    _plant(workdir, "dense_bn", ["planted_functional", "planted_plain"])
    ctx = _context(workdir)
    dense_bn = ctx.selection.fixtures["dense_bn"]
    fixtures = dict(ctx.selection.fixtures,
                    planted_functional=dataclasses.replace(dense_bn, name="planted_functional",
                                                           tags=("core", "functional")),
                    planted_plain=dataclasses.replace(dense_bn, name="planted_plain", tags=("core",)))
    data = report.build(ctx.spec, dataclasses.replace(ctx.selection, fixtures=fixtures), workdir,
                        RUN_DATE)
    cells = {c.id: c for c in data.cells}
    by_tag = [c for c in data.cells if c.fixture == "dense_bn" and c.expected_failure in TAGGED]
    assert len(by_tag) > 10
    for cell in by_tag:
        twin = cells[cell.id.replace("/dense_bn/", "/planted_functional/")]
        assert (twin.verdict, twin.expected_failure) == ("xfail", cell.expected_failure)
        plain = cells[cell.id.replace("/dense_bn/", "/planted_plain/")]
        assert plain.verdict == cell.original_verdict and plain.expected_failure is None
    # an entry that names dense_bn among its fixtures covers neither new fixture; one that names none covers both
    named = [c for c in data.cells if c.fixture == "dense_bn" and c.verdict == "xfail"
             and SHIPPED.expected_failures[c.expected_failure].fixtures]
    unexplained = {c.id for c in data.unexpected_failures}
    assert unexplained == {c.id.replace("/dense_bn/", f"/{new}/") for c in named
                           for new in ("planted_functional", "planted_plain")} | \
        {c.id.replace("/dense_bn/", "/planted_plain/") for c in by_tag}
    assert data.problems()[0].startswith(f"{len(unexplained)} failing cells that no live expected_failures entry "
                                         "explains")
    narrowed = {c.id for c in by_tag + named}
    others = [c for c in data.cells if c.fixture == "dense_bn" and c.verdict == "xfail" and c.id not in narrowed]
    assert others and all(cells[c.id.replace("/dense_bn/", f"/{new}/")].verdict == "xfail"
                          for c in others for new in ("planted_functional", "planted_plain"))


def test_the_reports_show_an_entry_as_written(tmp_path):
    """matrix.md and matrix.html name the entry's tags, results.json lists them beside its fixtures."""
    data = _data(_copy(tmp_path, "run-default"))
    report.write_all(data, tmp_path / "reports")
    md = (tmp_path / "reports" / "matrix.md").read_text()
    assert "### `expected_failures[0]`: `keras>=3` → `keras<3`, tags [functional], format h5/keras/json: live" in md
    html = (tmp_path / "reports" / "matrix.html").read_text()
    assert "<code>keras&lt;3</code>, tags [functional], format h5/keras/json:" in html
    entries = json.loads((tmp_path / "reports" / "results.json").read_text())["expected_failures"]
    assert (entries[0]["tags"], entries[0]["fixture"]) == (["functional"], None)
    named = [e for e in entries if e["fixture"]]
    assert named and all(e["tags"] is None for e in named)
    assert {e["entry"] for e in entries if e["tags"]} == {
        f"expected_failures[{e.index}]" for e in SHIPPED.expected_failures if e.tags}
