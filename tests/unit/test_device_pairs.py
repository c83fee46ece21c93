"""Device is a dimension of the matrix: the report groups cells by device pair, with the tolerance
matrix.yaml gives each pair (looser across devices), whether or not the cells could run."""
from harness import report, run


def test_the_docker_profile_shows_every_device_pair_with_its_tolerance(tmp_path):
    ctx = run.Context.from_args(["--profile", "docker", "--fixtures", "dense_bn", "--workdir", str(tmp_path)])
    data = report.build(ctx.spec, ctx.selection, ctx.workdir)
    rows = {row[0]: row for row in report.markdown.device_pair_rows(data)}
    assert list(rows) == ["cpu>cpu", "cpu>gpu", "gpu>cpu", "gpu>gpu"]
    assert rows["cpu>cpu"][3:] == ["1e-05", "0.0001"] and rows["gpu>gpu"][3:] == ["1e-05", "0.0001"]
    assert rows["gpu>cpu"][3:] == ["0.001", "0.001"] and rows["cpu>gpu"][3:] == ["0.001", "0.001"]
    assert int(rows["gpu>cpu"][1]) == len([c for c in data.matrix_cells if c.producer == "tf2.15-docker-gpu"
                                           and c.consumer != "tf2.15-docker-gpu"])
    md = report.markdown.render(data)
    assert "## Device pairs" in md and "| tf2.15-docker-gpu | docker gpu " in md
