"""The pre-release column: environments that pin a release candidate are reported apart and never fail a run.

A release candidate (TF 2.22.0rc0) is run to see early what the next release will break, not to gate
anything: its failures are listed on their own (``nox -s matrix`` logs them as "pre-release, not
failing"), and :class:`harness.report.model.ReportData` leaves every cell it saves or loads out of the
problems that fail the run.
"""
from __future__ import annotations

from collections.abc import Iterable

from harness.config.spec import MatrixSpec


def prerelease_envs(spec: MatrixSpec, envs: Iterable[str]) -> frozenset[str]:
    """The environments of ``envs`` that pin a pre-release or development release of any package
    (``EnvSpec.versions``: ``tensorflow-cpu==2.22.0rc0``, ``keras==3.16.0rc1``)."""
    return frozenset(env for env in envs if env in spec.envs
                     and any(v.is_prerelease or v.is_devrelease for v in spec.envs[env].versions().values()))


def involves(cell, envs: frozenset[str]) -> bool:
    """Whether ``cell`` (a ``harness.report.results.Cell``) was saved or loaded in one of ``envs``."""
    return cell.producer in envs or cell.consumer in envs


def notes(problem_cells: dict[str, list], envs: frozenset[str]) -> list[str]:
    """One line per kind of problem (key of ``problem_cells``: ``"failing cells no entry explains"``)
    that the pre-release environments ``envs`` showed, to log without failing the run."""
    out = []
    for what, cells in problem_cells.items():
        mine = [c for c in cells if involves(c, envs)]
        if mine:
            pairs = sorted({f"{c.producer} > {c.consumer}" for c in mine})
            out.append(f"pre-release, not failing: {len(mine)} {what} ({', '.join(pairs[:5])}"
                       f"{', …' if len(pairs) > 5 else ''})")
    return out
