"""Files the harness writes atomically get the mode a plain open() would give them, not mkstemp's 0600."""
import os
import stat

from harness import guard


def test_atomic_write_gets_the_umask_mode_not_0600(tmp_path):
    previous = os.umask(0o022)
    try:
        guard.write_atomic(tmp_path / "matrix.md", "# report\n")
        guard.write_set({tmp_path / "a.json": "{}", tmp_path / "b.json": b"{}"})
        os.umask(0o077)
        guard.write_atomic(tmp_path / "private.md", "x")
    finally:
        os.umask(previous)
    for name in ("matrix.md", "a.json", "b.json"):
        assert stat.S_IMODE((tmp_path / name).stat().st_mode) == 0o644, name
    assert stat.S_IMODE((tmp_path / "private.md").stat().st_mode) == 0o600
    assert (tmp_path / "matrix.md").read_text() == "# report\n"
