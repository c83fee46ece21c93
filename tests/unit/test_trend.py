"""The trend page (harness/report/trend.py) over real results.json files."""
import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from harness.report import history, trend

DATA = Path(__file__).resolve().parent.parent / "data" / "history"
NIGHT1, NIGHT2 = DATA / "night1.json", DATA / "night2.json"


@pytest.fixture()
def store(tmp_path):
    """A stored history as a nightly keeps it: one folder per night, night 2 compared with night 1."""
    for name, source in (("2026-11-29b", NIGHT2), ("2026-11-29a", NIGHT1)):
        (tmp_path / "store" / name).mkdir(parents=True)
        shutil.copy(source, tmp_path / "store" / name / "results.json")
    night2 = json.loads(NIGHT2.read_text())
    night2["history"] = history.compare(json.loads(NIGHT1.read_text()), night2, str(NIGHT1)).to_json()
    (tmp_path / "store" / "2026-11-29b" / "results.json").write_text(json.dumps(night2))
    return tmp_path / "store"


def test_nights_are_counted_and_ordered_by_their_start(store):
    nights, skipped = trend.collect([store])
    assert skipped == []
    assert [(n.counts, n.new_failures, n.problems) for n in nights] == [
        ({"pass": 34, "unsupported": 12, "xfail": 10}, None, 0),
        ({"pass": 29, "unsupported": 16, "xfail": 11}, 14, 0)]  # 12, and two training levels that say why they fail
    assert nights[0].started < nights[1].started and nights[0].cells == nights[1].cells == 56


def test_the_same_run_twice_and_files_that_are_no_results_are_left_out_with_a_reason(store, tmp_path):
    (store / "junk.json").write_text("[]")
    (store / "torn.json").write_text('{"run": ')
    nights, skipped = trend.collect([store, NIGHT1])
    assert len(nights) == 2
    assert f"{NIGHT1}: the same run as {store / '2026-11-29a' / 'results.json'}" in skipped
    assert any(line.startswith(f"{store / 'junk.json'}: not a results.json") for line in skipped)
    assert any(line.startswith(f"{store / 'torn.json'}: not a readable JSON file") for line in skipped)
    with pytest.raises(trend.TrendError, match="no such file or folder"):
        trend.collect([tmp_path / "nowhere"])
    (tmp_path / "empty").mkdir()
    with pytest.raises(trend.TrendError, match=r"no results.json among .*empty \(no \*.json files\)"):
        trend.collect([tmp_path / "empty"])


def test_a_json_file_that_is_no_results_json_is_left_out_with_its_key_path_never_a_traceback(tmp_path):
    """Folders are searched for every *.json: another tool's file, or a hand-edited one, is only left out."""
    night = json.loads(NIGHT1.read_text())
    odd = {"run-text": dict(night, run="last night"),
           "nan-start": dict(night, run=dict(night["run"], started=float("nan"))),
           "huge-start": dict(night, run=dict(night["run"], started=1e300)),
           "verdict-list": dict(night, cells=[dict(night["cells"][0], verdict=["pass"])]),
           "odd-extras": dict(night, history=[1], problems=3)}
    for name, data in odd.items():
        (tmp_path / f"{name}.json").write_text(json.dumps(data))
    nights, skipped = trend.collect([tmp_path, tmp_path / "odd-extras.json"])  # named twice: read once
    assert [(n.path, n.new_failures, n.problems) for n in nights] == [(str(tmp_path / "odd-extras.json"), None, 0)]
    assert sorted(skipped) == [
        f"{tmp_path / 'huge-start.json'}: not a results.json of keras-compat-matrix (no run.started time)",
        f"{tmp_path / 'nan-start.json'}: not a results.json of keras-compat-matrix (no run.started time)",
        f"{tmp_path / 'run-text.json'}: not a results.json of keras-compat-matrix (run: expected an object, "
        "got 'last night')",
        f"{tmp_path / 'verdict-list.json'}: not a results.json of keras-compat-matrix (cells[0] lacks verdict)"]
    (tmp_path / "odd-extras.json").unlink()
    with pytest.raises(trend.TrendError) as error:  # nothing left: the error says why each file was left out
        trend.collect([tmp_path])
    assert str(error.value).startswith(f"no results.json among {tmp_path}: {tmp_path / 'huge-start.json'}: not a")


def test_the_session_writes_an_offline_html_page_and_markdown(store, tmp_path):
    log = []
    written = trend.main([str(store), "--out", str(tmp_path / "out" / "trend.html")], log=log.append)
    assert [p.name for p in written] == ["trend.html", "trend.md"]
    md = (tmp_path / "out" / "trend.md").read_text()
    assert "| night (run started)   | profile   |   cells |   pass |   unsupported |   xfail | new failures   |" in md
    assert re.search(r"\| 2026-11-29 \d\d:\d\d UTC +\| default +\| +56 \| +29 \| +16 \| +11 \| 14 ", md)
    page = (tmp_path / "out" / "trend.html").read_text()
    assert "<script" not in page and "http" not in page.replace("https://", "")  # nothing fetched: works offline
    svg = ET.fromstring(re.search(r"<svg.*?</svg>", page, re.S).group(0))
    rects = list(svg.iter("rect"))
    assert len(rects) == 6  # two nights, three verdicts each
    # Bars are scaled to the largest night: a full bar spans the chart's height.
    tops = [float(r.get("y")) for r in rects]
    assert min(tops) == 0.0
    assert log[-1].startswith("2 nights, 2026-11-29")


def test_an_unwritable_out_is_one_error(store, tmp_path):
    (tmp_path / "a-file").write_text("")
    with pytest.raises(trend.TrendError, match=r"--out .*a-file/trend.html: cannot write"):
        trend.main([str(store), "--out", str(tmp_path / "a-file" / "trend.html")], log=lambda _: None)


def test_out_may_name_a_folder(store, tmp_path):
    (tmp_path / "site").mkdir()
    written = trend.main([str(store), "--out", str(tmp_path / "site")], log=lambda _: None)
    assert written == [tmp_path / "site" / "trend.html", tmp_path / "site" / "trend.md"]
    assert not (tmp_path / "site.html").exists()
    # A folder that does not exist yet, named with a trailing slash, is made (not written as new.html).
    written = trend.main([str(store), "--out", f"{tmp_path / 'new'}/"], log=lambda _: None)
    assert written == [tmp_path / "new" / "trend.html", tmp_path / "new" / "trend.md"]
