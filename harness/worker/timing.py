"""Where a worker's seconds go: wall time per step of a cell, summed by step name.

A cell's record gets ``"timings": {step: seconds}`` (wall seconds, rounded to the
millisecond, from ``time.perf_counter``); a step that did not run is absent. Steps:

- produce: ``build`` (build and train the fixture; once per fixture and worker), ``save``;
- consume: ``verify`` (SHA-256 of the artifact's files), ``load``, ``control`` (rebuilding the
  fixture with fresh weights: the negative control, or the model ``load_weights`` fills),
  ``predict``, ``compare``, ``changes`` (where the call as written failed: loading, predicting and
  comparing with each change tried, ``changes.py``), ``levels`` (the deeper check levels).

Every record also gets ``worker_import_s``: the seconds this worker process took to import
TensorFlow/Keras, once per process (the same value in each of its records).

Python 3.7 syntax, standard library only (this runs inside every environment).
"""
import time
from contextlib import contextmanager


class Stopwatch(object):
    """Sums wall seconds per step name over one cell."""

    def __init__(self):
        self.seconds = {}

    @contextmanager
    def step(self, name):
        """Time the ``with`` body as ``name`` (added to earlier time of the same step), even when it raises."""
        started = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - started

    def as_record(self):
        """``{step: seconds}``, each rounded to the millisecond."""
        return {name: round(value, 3) for name, value in sorted(self.seconds.items())}
