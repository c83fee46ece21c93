"""The one family of errors a user acts on.

Every error the harness raises about what it was given (matrix.yaml, the lock, command-line options, a
model file, CI job folders, records, the machine: no interpreter, no Docker engine) subclasses
:class:`HarnessError`, so ``noxfile.py`` turns each into one line in one place, never a traceback.
"""
from __future__ import annotations


class HarnessError(Exception):
    """A problem the message names (what was wrong and where) and the user can act on.

    ``exit_status`` is the status of the nox command that meets it: 1, or 2 for bad input to
    ``check`` and ``scan`` (their documented status for it).
    """

    exit_status = 1
