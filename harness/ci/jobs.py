"""The CI job matrix: one produce and one consume job per environment, split to fit a CI's matrix limit.

``nox -s jobs -- --profile nightly [--max-jobs 256]`` prints one line of JSON on stdout::

    {"envs": 12, "max_jobs": 256,
     "chunks": [{"include": [{"env": "tf2.15", "python": "3.11", "runner": "venv", "device": "cpu"}, ...]}]}

Each chunk is one ``strategy.matrix`` of GitHub Actions (``fromJSON``), at most ``max_jobs``
entries (GitHub allows 256 jobs per matrix); ``.github/workflows/nightly.yml`` calls its phase
workflow once per chunk, so the list of chunks is a matrix too and must fit the same limit (up to
``max_jobs`` squared environments). ``nox -l --json`` lists every environment of matrix.yaml,
whatever the profile; this command lists those of the selection, which is what a night runs.
"""
from __future__ import annotations

import math

from harness.config.spec import MatrixSpec
from harness.errors import HarnessError

GITHUB_MAX_JOBS = 256  # jobs one matrix of a GitHub Actions workflow run may generate


class TooManyJobs(HarnessError, ValueError):
    """The selection does not fit the CI's limits even when split."""


def job(spec: MatrixSpec, env: str) -> dict:
    """One entry of a job matrix: the environment, and what a CI job needs to set up for it
    (``python``: the interpreter a venv environment asks for; None for a docker one, whose
    image brings its own; ``runner``; ``device``, so a workflow can send GPU jobs elsewhere)."""
    e = spec.envs[env]
    return {"env": env, "python": e.python if e.runner == "venv" else None, "runner": e.runner,
            "device": e.device}


def split(entries: list, max_jobs: int = GITHUB_MAX_JOBS) -> list[list]:
    """``entries`` cut into the fewest chunks of at most ``max_jobs`` each, in order, as even as can be
    (sizes differ by at most one: 300 entries under 256 give 150 and 150, not 256 and 44).

    Raises:
        TooManyJobs: ``max_jobs`` is below 1, or more than ``max_jobs`` chunks would be needed.
    """
    if max_jobs < 1:
        raise TooManyJobs(f"--max-jobs {max_jobs}: must be at least 1")
    count = math.ceil(len(entries) / max_jobs)
    if count > max_jobs:
        raise TooManyJobs(f"{len(entries)} environments need {count} chunks of at most {max_jobs} jobs, "
                          f"and the chunks are themselves a matrix of at most {max_jobs}: "
                          "select fewer environments (--profile, --envs)")
    size, extra = divmod(len(entries), count) if count else (0, 0)
    chunks, start = [], 0
    for index in range(count):
        end = start + size + (index < extra)
        chunks.append(entries[start:end])
        start = end
    return chunks


def job_matrix(spec: MatrixSpec, envs: tuple[str, ...] | list[str], max_jobs: int = GITHUB_MAX_JOBS) -> dict:
    """The job matrix of the selected environments ``envs``: ``{"envs", "max_jobs", "chunks"}``, each
    chunk a ``{"include": [...]}`` matrix of :func:`job` entries (see the module's docstring)."""
    chunks = split([job(spec, env) for env in envs], max_jobs)
    return {"envs": len(envs), "max_jobs": max_jobs, "chunks": [{"include": chunk} for chunk in chunks]}
