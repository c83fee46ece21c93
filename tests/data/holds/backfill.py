"""Write what each producer's model holds into recorded produce records that predate the ``holds`` field.

The recorded runs under tests/data were produced before the producer recorded what a model's config holds
(``harness/worker/holds.py``). Their ``holds`` come from real saves, never typed by hand:

1. ``table WORKDIR...``: a real produce run per environment (done on 2026-12-07, see README.md) writes
   ``holds`` in each produce record; this collects them into ``holds.json``, ``{producer: {fixture: holds}}``.
2. ``golden``: a golden producer's models are frozen in fixtures/golden/ENV; their holds are read from the
   frozen ``.h5`` file itself (its ``model_config`` attribute), with the host's reader
   (``harness.check.predictions.stored_config``), and written into its ``produce.jsonl``.
3. ``apply RUN_DIR...``: adds ``holds`` from holds.json to every produce record of those recorded runs (by
   producer and fixture); a record whose producer or fixture the table lacks is left without (unknown).

Usage (from the repository root): ``python3 tests/data/holds/backfill.py table /tmp/holds-22a /tmp/holds-22a-jax``,
``... golden``, ``... apply tests/data/run-quick-all tests/data/run-default tests/data/run-default-2026-12-07``.
"""
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
TABLE = Path(__file__).with_name("holds.json")


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def _write(path, records):
    path.write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))


def table(workdirs):
    found = {}
    for workdir in workdirs:
        for path in sorted(Path(workdir, "results").glob("produce-*.jsonl")):
            for record in _records(path):
                if record.get("holds"):
                    held = found.setdefault(record["producer"], {}).setdefault(record["fixture"], record["holds"])
                    assert held == record["holds"], (path, record["id"])  # every format of a model holds the same
    TABLE.write_text(json.dumps(found, indent=1, sort_keys=True) + "\n")
    print(f"{TABLE}: {sum(map(len, found.values()))} models of {len(found)} producers")


def golden():
    from harness.check.predictions import stored_config
    from harness.worker.holds import holds_of
    for folder in sorted((ROOT / "fixtures" / "golden").iterdir()):
        records = _records(folder / "produce.jsonl")
        for record in records:
            model = next((folder / record["fixture"] / "h5").glob("*.h5"), None)
            config = stored_config(model, "h5", None)[0] if model else None
            if config is not None:
                record["holds"] = holds_of(config)
        _write(folder / "produce.jsonl", records)
        print(f"{folder.name}: {sorted({r['fixture'] for r in records if r.get('holds')})}")


def apply(runs):
    found = json.loads(TABLE.read_text())
    for run in runs:
        for path in sorted(Path(run, "results").glob("produce-*.jsonl")):
            records = _records(path)
            for record in records:
                held = found.get(record.get("producer"), {}).get(record.get("fixture"))
                if held is not None:
                    record["holds"] = held
            _write(path, records)
            print(f"{path}: {sum('holds' in r for r in records)} of {len(records)} records")


if __name__ == "__main__":
    command, args = sys.argv[1], sys.argv[2:]
    {"table": lambda: table(args), "golden": golden, "apply": lambda: apply(args)}[command]()
