"""benchmarks/eta.py: a run's records replayed through the progress display's time left."""
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
import eta  # noqa: E402  (benchmarks/eta.py)


def _record(i, fixture, seconds):
    return {"id": f"p{i}>c/{fixture}/h5/load_model", "producer": f"p{i}", "consumer": "c", "fixture": fixture,
            "format": "h5", "loader": "load_model", "verdict": "pass", "seconds": seconds}


def test_a_pace_per_kind_is_exact_where_each_kind_costs_the_same_and_one_pace_is_not():
    # producer by producer, each with a cheap fixture and a dear one: one pace overestimates near the end
    records = [_record(i, fixture, seconds) for i in range(60) for fixture, seconds in (("f", 1.0), ("g", 9.0))]
    assert max(eta.replay(records, per_kind=True)) < 1e-9
    # the dear cells all at the end: one pace says far too little at first
    late = sorted(records, key=lambda r: r["seconds"])
    errors = eta.replay(late, per_kind=False)
    assert len(errors) > 100 and errors[0] > 0.5


def test_the_table_reads_each_phase_shards_joined_and_leaves_out_reused_records(tmp_path, capsys):
    results = tmp_path / "work" / "results"
    results.mkdir(parents=True)
    records = [_record(i, fixture, 1.0) for i in range(40) for fixture in ("f", "g")]
    (results / "consume-c.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records[:40]))
    (results / "consume-c.shard2.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records[40:]))
    (results / "consume-d.jsonl").write_text("".join(json.dumps(dict(r, reused=True)) + "\n" for r in records))
    assert {name: len(r) for name, r in eta.phase_records(results).items()} == {"consume-c": 80}
    assert eta.main([str(tmp_path / "work")]) == 0
    assert "| work/consume-c |          80 | 0% / 0%" in capsys.readouterr().out
