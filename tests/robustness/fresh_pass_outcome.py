"""How a fresh-pass case ends, as the noxfile's ``one_line`` ends a session."""
from __future__ import annotations

import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _outcome(func, seconds: float = 20.0) -> tuple[object, str]:
    """``func()``'s (status, line), as the noxfile's ``one_line`` ends a session: ``("hang", …)`` when it has
    not returned within ``seconds``, ``("traceback", …)`` for an exception that is no HarnessError."""
    from harness.errors import HarnessError

    import contextlib
    import io

    box, err = {}, io.StringIO()

    def call():
        try:
            with contextlib.redirect_stderr(err):
                box["value"] = func()
        except BaseException as exc:  # noqa: B036 — judged below
            box["error"] = exc

    thread = threading.Thread(target=call, daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        return "hang", f"still running after {seconds} s"
    error = box.get("error")
    if isinstance(error, HarnessError):
        return error.exit_status, str(error)
    if isinstance(error, SystemExit):  # argparse of check and scan: status 2, its last line on stderr
        return error.code, ([line for line in err.getvalue().splitlines() if line.strip()] or [""])[-1]
    if error is not None:
        return "traceback", f"{type(error).__name__}: {error}"
    return box.get("value", (0, ""))
