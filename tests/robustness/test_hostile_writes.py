"""A full disk while the harness writes its own files: the old files stay whole, the message names the file.

The disk fills where the data reaches it (``os.fsync`` of the temporary file), planted with monkeypatch.
"""

import datetime
import errno
import http.server
import json
import textwrap
import threading
from pathlib import Path

import pytest

from harness import cli, guard, run
from harness.config import lock
from harness.report import trend

DATA = Path(__file__).resolve().parents[1] / "data"
RUN = DATA / "run-default"
PYPI = {path.stem: json.loads(path.read_text()) for path in (DATA / "pypi").glob("*.json")}


def _disk_full_after(monkeypatch, good: int) -> None:
    """The (good+1)-th file the harness syncs finds the disk full."""
    calls = []
    real = guard.os.fsync

    def fsync(fd):
        calls.append(fd)
        if len(calls) > good:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(fd)

    monkeypatch.setattr(guard.os, "fsync", fsync)


def _snapshot(folder: Path) -> dict:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_a_full_disk_leaves_all_four_old_reports_and_names_the_file(tmp_path, monkeypatch):
    reports = tmp_path / "reports"
    ctx = run.Context.from_args(cli.last_selection(["--workdir", str(RUN), "--reports", str(reports)]))
    run.report(ctx, log=lambda line: None)
    before = _snapshot(reports)
    assert set(before) == {"matrix.md", "matrix.html", "results.json", "junit.xml"}
    _disk_full_after(monkeypatch, 2)  # matrix.md and matrix.html written, results.json fails
    problems = run.report(ctx, log=lambda line: None)
    assert problems == [
        f"--reports {reports}: cannot write the reports (No space left on device: {reports / 'results.json'})"
    ]
    assert _snapshot(reports) == before  # all four old, no temporary file left


def test_a_full_disk_while_planning_keeps_run_json_and_says_which_file(tmp_path, monkeypatch):
    workdir = tmp_path / "work"
    ctx = run.Context.from_args(["--workdir", str(workdir), "--profile", "quick"])
    run.start(ctx)
    before = (workdir / "run.json").read_bytes()
    _disk_full_after(monkeypatch, 0)
    with pytest.raises(
        run.spec_mod.SpecError,
        match=f"cannot write {workdir / 'run.json'} "
        r"\(No space left on device\)",
    ):
        run.start(ctx)
    assert (workdir / "run.json").read_bytes() == before and not list(workdir.glob(".run.json*"))


@pytest.mark.parametrize("workdir", ["file/work", "/proc/kcm-work"])
def test_plan_into_a_work_dir_that_cannot_be_made_is_one_line(tmp_path, workdir):
    (tmp_path / "file").write_text("a file")
    path = workdir if workdir.startswith("/") else str(tmp_path / workdir)
    ctx = run.Context.from_args(["--workdir", path, "--profile", "quick"])
    with pytest.raises(run.spec_mod.SpecError, match=f"--workdir {path}: cannot write "):
        run.start(ctx)


def test_a_full_disk_keeps_the_old_lock_file(tmp_path, monkeypatch):
    matrix = tmp_path / "matrix.yaml"
    matrix.write_text(
        textwrap.dedent("""
        envs:
          tf2.15: {python: "3.11", packages: ["tensorflow-cpu==2.15.1"]}
        templates:
          keras2:
            name: "tf{minor}-k2"
            packages: ["tensorflow-cpu>=2.12,<2.16"]
        profiles:
          default: {envs: [tf2.15, keras2]}
        """)
    )
    today = datetime.date(2026, 11, 29)
    lock.main([], matrix, project=PYPI.__getitem__, log=lambda line: None, today=today)
    path = matrix.with_name("matrix.lock.json")
    before = path.read_bytes()
    _disk_full_after(monkeypatch, 0)
    with pytest.raises(lock.LockError, match=f"cannot write {path} \\(No space left on device\\); the old lock"):
        lock.main([], matrix, project=PYPI.__getitem__, log=lambda line: None, today=today)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["matrix.lock.json", "matrix.yaml"]


def test_a_full_disk_while_writing_the_trend_keeps_both_old_pages(tmp_path, monkeypatch):
    out = tmp_path / "trend"
    trend.main([str(DATA / "history"), "--out", f"{out}/"], log=lambda line: None)
    before = _snapshot(out)
    _disk_full_after(monkeypatch, 1)
    with pytest.raises(trend.TrendError, match=f"cannot write \\(No space left on device: {out / 'trend.md'}\\)"):
        trend.main([str(DATA / "history"), "--out", f"{out}/"], log=lambda line: None)
    assert _snapshot(out) == before


class _Answer(http.server.BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's name)
        body = b"[" * 100_000
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_an_index_answer_nested_too_deeply_is_one_line():
    server = http.server.HTTPServer(("127.0.0.1", 0), _Answer)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(lock.LockError, match="did not answer JSON \\(nested too deeply to read\\)"):
            lock.fetch("keras", f"http://127.0.0.1:{server.server_port}/pypi", timeout_s=10)
    finally:
        server.shutdown()
