"""Reference inputs and outputs: written where a model is saved (or, for a check, first
loaded), read where it is loaded again, as one ``reference.npz`` per directory.

Runs inside the environment under test (Python 3.7 syntax, numpy only).
"""
import os

import numpy as np

import arrays
import compare


def save_reference(directory, x, outputs):
    """Write ``reference.npz``: the inputs ``x`` (array, list or dict) and the outputs ``y0, y1, ...``."""
    named = dict(arrays.flatten(x, "x"))
    for index, value in enumerate(compare.as_output_list(outputs)):
        named["y{}".format(index)] = value
    np.savez(os.path.join(directory, "reference.npz"), **named)


def load_reference(directory):
    """Inverse of ``save_reference``: (inputs, list of expected outputs as float64 arrays)."""
    with np.load(os.path.join(directory, "reference.npz"), allow_pickle=False) as data:
        return arrays.unflatten(data, "x"), arrays.numbered(data, "y")
