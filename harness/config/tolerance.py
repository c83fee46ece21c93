"""How close a consumer's outputs must be to the producer's: ``tolerance`` of matrix.yaml.

A cell passes when every output element satisfies
``|actual - expected| <= atol + rtol * |expected|`` (``harness/worker/compare.py``).
The tolerance of a cell comes from matrix.yaml's default, the fixture's own
``TOLERANCE`` and matrix.yaml's ``tolerance.overrides``, by the precedence that
:class:`ToleranceRules` documents. The orchestrator resolves it when it plans the
consume cells, so each cell carries its own ``atol``/``rtol`` to the worker.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tolerance:
    """Outputs match when ``|actual - expected| <= atol + rtol * |expected|`` element-wise.

    ``atol`` is in the unit of the model's outputs; ``rtol`` is a fraction of ``|expected|``.
    """

    atol: float = 1e-5
    rtol: float = 1e-4


def names(value: str | list[str] | None) -> tuple[str, ...] | None:
    """A matrix.yaml criterion written as one string or a list of them, as a tuple (None: absent)."""
    if value is None:
        return None
    return (value,) if isinstance(value, str) else tuple(value)


def accepts(allowed: tuple[str, ...] | None, value: str) -> bool:
    """Whether a criterion accepts ``value``: None accepts any value, else it must be listed."""
    return allowed is None or value in allowed


@dataclass(frozen=True)
class ToleranceOverride:
    """One ``tolerance.overrides`` entry: an ``atol`` and/or ``rtol`` for the cells it matches.

    Criteria (each a tuple of accepted values, or None for any): ``fixtures``;
    ``formats``; ``backends``, the consumer's Keras backend (its ``backend`` key,
    ``tensorflow`` when unset); ``device_pairs``, ``"<producer device>><consumer
    device>"`` from the environments' ``device`` keys (``cpu`` when unset), e.g. ``"gpu>cpu"``.
    """

    atol: float | None = None
    rtol: float | None = None
    fixtures: tuple[str, ...] | None = None
    formats: tuple[str, ...] | None = None
    backends: tuple[str, ...] | None = None
    device_pairs: tuple[str, ...] | None = None

    @property
    def specificity(self) -> int:
        """How many criteria the entry names (0 to 4)."""
        return sum(c is not None for c in (self.fixtures, self.formats, self.backends, self.device_pairs))

    def matches(self, fixture: str, fmt: str, backend: str, device_pair: str) -> bool:
        """Whether a cell with these properties falls under this override."""
        return (accepts(self.fixtures, fixture) and accepts(self.formats, fmt)
                and accepts(self.backends, backend) and accepts(self.device_pairs, device_pair))


@dataclass(frozen=True)
class ToleranceRules:
    """``tolerance`` of matrix.yaml: the default and its overrides.

    Precedence, decided for ``atol`` and ``rtol`` separately: the most specific
    source that sets the key wins. An override naming more criteria (fixture,
    format, backend, device_pair) beats one naming fewer; a fixture's own
    ``TOLERANCE`` counts as an override naming its fixture only, placed before
    matrix.yaml's overrides; between equally specific sources the later one wins;
    the default applies where no source sets the key.
    """

    default: Tolerance = Tolerance()
    overrides: tuple[ToleranceOverride, ...] = ()

    @classmethod
    def from_yaml(cls, raw: dict) -> ToleranceRules:
        """From matrix.yaml's validated ``tolerance`` mapping."""
        default = Tolerance(**{k: float(raw[k]) for k in ("atol", "rtol") if k in raw})
        overrides = tuple(
            ToleranceOverride(atol=o.get("atol"), rtol=o.get("rtol"), fixtures=names(o.get("fixture")),
                              formats=names(o.get("format")), backends=names(o.get("backend")),
                              device_pairs=names(o.get("device_pair")))
            for o in raw.get("overrides", [])
        )
        return cls(default, overrides)

    def resolve(self, fixture: str, fmt: str, backend: str, device_pair: str,
                fixture_tolerance: dict | None = None) -> Tolerance:
        """The tolerance of one cell (see the class docstring for the precedence).

        Args:
            fixture_tolerance: the fixture's own ``TOLERANCE`` (``{"atol": ..., "rtol": ...}``, either optional).
        """
        own = fixture_tolerance or {}
        sources = [ToleranceOverride(atol=own.get("atol"), rtol=own.get("rtol"), fixtures=(fixture,))]
        sources += [o for o in self.overrides if o.matches(fixture, fmt, backend, device_pair)]
        atol, rtol = self.default.atol, self.default.rtol
        for source in sorted(sources, key=lambda o: o.specificity):  # a stable sort: the later wins a tie
            atol = atol if source.atol is None else source.atol
            rtol = rtol if source.rtol is None else source.rtol
        return Tolerance(atol=float(atol), rtol=float(rtol))
