"""How near the progress display's time left comes: a run's records replayed through its estimate.

    python3 benchmarks/eta.py WORKDIR [WORKDIR ...] [--previous WORKDIR]

For each phase of each run (its records file, shards' records taken as one worker's), the records that
ran (not reused) are fed one by one to ``harness.report.progress`` (``RecordTally`` and
``PhaseProgress.left_s``, the code the display runs), as if each cell's ``seconds`` had just passed.
At every step from 10% to 97% of the phase, the estimate is set against the seconds the phase's
remaining records really took (their ``seconds`` summed), and the table gives the median and the 90th
percentile of the relative error (near a phase's end a few seconds off is a large share), three ways:

- **as run, one pace**: the records in the order they ran, every cell left at the mean pace (the
  estimate before the status listed its cells' kinds);
- **as run, per kind**: the same order, each kind of cell (``progress.cell_kind``) at its own pace;
- **run order, per kind**: the records in ``harness.execute.supervisor.run_order`` (what a phase
  runs now: its artifact sources shuffled), each kind at its own pace;
- **run order, last run** (with ``--previous WORKDIR``, an earlier run of the same cells): the same,
  with each cell's seconds in that run as the status gives them when the phase last ran in its work dir.

A run whose records were written in run order gives the same figures in the last two columns.
Worker seconds leave out importing TensorFlow and the gaps between cells, as the estimate does.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

from tabulate import tabulate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from harness.execute.supervisor import run_order  # noqa: E402
from harness.report.progress import PhaseProgress, RecordTally, cell_kind  # noqa: E402
from harness.workdir import PHASE_FILE, read_records  # noqa: E402

FROM, TO = 0.10, 0.97  # the part of a phase whose estimates are judged


def replay(records: list[dict], per_kind: bool, last: dict[str, float] | None = None) -> list[float]:
    """Relative errors of the time left after each record (|estimate - truth| / truth), from FROM to TO
    of the phase. ``records``: the records that ran, each with ``seconds``, in the order to replay;
    ``last``: the seconds of the same cells in an earlier run, by id."""
    truth = [0.0] * (len(records) + 1)
    for i in range(len(records) - 1, -1, -1):
        truth[i] = truth[i + 1] + records[i]["seconds"]
    kinds: dict[str, int] = {}
    for record in records:
        kinds[cell_kind(record)] = kinds.get(cell_kind(record), 0) + 1
    errors = []
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "records.jsonl"
        tally = RecordTally()
        with open(path, "w") as handle:
            for done, record in enumerate(records, start=1):
                handle.write(json.dumps(record) + "\n")
                handle.flush()
                if not FROM * len(records) <= done < TO * len(records) or truth[done] <= 0:
                    continue
                tally.update([path])
                progress = PhaseProgress("consume", "-", total=len(records), started=0.0, done=tally.done,
                                         cell_s=tally.cell_s, kinds=kinds if per_kind else {},
                                         by_kind=tally.by_kind, ran=tally.ran,
                                         last={r["id"]: last[r["id"]] for r in records if r["id"] in (last or {})})
                errors.append(abs(progress.left_s(1.0) - truth[done]) / truth[done])
    return errors


def phase_records(results: Path) -> dict[str, list[dict]]:
    """A results folder's records that ran, with their seconds, per phase and environment, shards joined."""
    phases: dict[str, list[dict]] = {}
    for path in sorted(results.glob("*.jsonl")):
        match = PHASE_FILE.match(path.name)
        if not match:
            continue
        ran = [r for r in read_records(path) if "id" in r and not r.get("reused")
               and isinstance(r.get("seconds"), (int, float))]
        phases.setdefault(f"{match.group(1)}-{match.group(2)}", []).extend(ran)
    return {name: records for name, records in phases.items() if len(records) >= 50}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("workdirs", nargs="+", type=Path, metavar="WORKDIR")
    parser.add_argument("--previous", type=Path, metavar="WORKDIR", help="an earlier run of the same cells")
    options = parser.parse_args(argv)
    previous = phase_records(options.previous / "results") if options.previous else {}
    rows = []
    for workdir in options.workdirs:
        for name, records in phase_records(workdir / "results").items():
            row = [f"{workdir.name}/{name}", len(records)]
            last = {r["id"]: r["seconds"] for r in previous.get(name, [])}
            ways = [(records, False, None), (records, True, None), (run_order(records, name), True, None)]
            for ordered, per_kind, by_last in ways + ([(run_order(records, name), True, last)] if previous else []):
                errors = replay(ordered, per_kind, by_last)
                row.append(f"{statistics.median(errors):.0%} / {statistics.quantiles(errors, n=10)[-1]:.0%}"
                           if len(errors) > 1 else "-")
            rows.append(row)
    print(tabulate(rows, headers=["phase", "cells run", "as run, one pace", "as run, per kind",
                                  "run order, per kind"] + (["run order, last run"] if previous else []),
                   tablefmt="github"))
    print("each: median / 90th percentile of the relative error of the time left, from 10% to 97% of the phase")
    return 0


if __name__ == "__main__":
    sys.exit(main())
