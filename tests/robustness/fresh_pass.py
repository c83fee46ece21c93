"""The fresh pass of hostile input (round 2): each case plants one hostile input at one entry point and
says the exact outcome expected: the exit status the nox session would end with (0, 1, or 2 for bad input
to check and scan), and what its one line must say (a pattern, and the file or key it must name).

``tests/robustness/test_fresh_pass.py`` runs every case; ``python3 -m tests.robustness.fresh_pass`` prints
the table of docs/hostile-input.md ("Round 2, fresh pass") from the same cases, with what each does on
the code it runs against (run it against the old code for the "before" column). The cases:
``tests/robustness/fresh_files.py`` (each hostile kind of file at each entry point that reads one) and
``tests/robustness/fresh_targeted.py`` (one hostile value at one entry point).

A case is ``(name, entry point, plant, expected status, pattern)``; ``plant(tmp)`` makes the input under
the temporary folder ``tmp`` and returns a callable that runs the entry point in process, as the
noxfile's ``one_line`` does: it returns ``(status, line)``, a HarnessError is its ``exit_status`` and
message, anything else is a traceback (a failure).
"""
from __future__ import annotations

from pathlib import Path

from tests.robustness.fresh_files import file_cases
from tests.robustness.fresh_pass_outcome import ROOT, _outcome
from tests.robustness.fresh_targeted import TARGETED


def all_cases() -> list[tuple[str, str, object, object, str]]:
    return file_cases() + TARGETED


def row(index: int) -> str:
    """The table's row of case ``index``: what the case does on the code this runs against (✗: not what the
    test expects)."""
    import re
    import tempfile

    name, entry, plant, status, pattern = all_cases()[index]
    with tempfile.TemporaryDirectory() as folder:
        try:
            got, line = _outcome(plant(Path(folder)))
        except Exception as exc:  # noqa: BLE001 — a case the code cannot even set up
            got, line = "traceback", f"{type(exc).__name__}: {exc}"
        mark = "" if got == status and re.search(pattern, str(line)) else " ✗"
        line = " ".join(str(line).replace(folder, "…").split())[:150]
    return _row(name, entry, (f"{got}: {line}" if line else str(got)) + mark)


def _row(name: str, entry: str, outcome: str) -> str:
    printable = ["".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in text)
                 for text in (name, entry, outcome)]
    cells = [text.replace("|", "\\|").replace("`", "'") for text in printable]
    cells[0] = printable[0].replace("|", "\\|")
    return "| " + " | ".join(cells) + " |"


def table(memory_bytes: int = 4 * 2**30, seconds: int = 60) -> None:
    """Print the Markdown table, each case run in its own process (at most ``memory_bytes`` of address space,
    ``seconds`` of wall time: old code that hangs or exhausts memory costs its row, not the table)."""
    import resource
    import subprocess
    import sys

    def limit():
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))

    print("| case | entry point | outcome (exit status: the one line) |\n|---|---|---|", flush=True)
    for index, (name, entry, *_) in enumerate(all_cases()):
        try:
            done = subprocess.run([sys.executable, "-m", "tests.robustness.fresh_pass", str(index)], cwd=ROOT,
                                  capture_output=True, text=True, timeout=seconds, preexec_fn=limit)
            tail = (done.stderr.strip().splitlines() or ["?"])[-1][:150]
            print(done.stdout.strip() if done.returncode == 0 and done.stdout.strip() else
                  _row(name, entry, f"killed: {tail} ✗"), flush=True)
        except subprocess.TimeoutExpired:
            print(_row(name, entry, f"hang: still running after {seconds} s ✗"), flush=True)




if __name__ == "__main__":
    import sys

    if len(sys.argv) > 1:
        print(row(int(sys.argv[1])))
        sys.exit(0)  # a thread blocked on a FIFO (old code) must not keep the process alive
    table()
