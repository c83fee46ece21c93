"""Reference inputs and outputs: written where a model is saved (or, for a check, first
loaded), read where it is loaded again, as one ``reference.npz`` per directory.

Runs inside the environment under test (Python 3.7 syntax, numpy only).
"""
import os

import numpy as np

import compare


def save_reference(directory, x, outputs):
    arrays = {}
    for key, value in _named(x, "x"):
        arrays[key] = value
    for index, value in enumerate(compare.as_output_list(outputs)):
        arrays["y{}".format(index)] = value
    np.savez(os.path.join(directory, "reference.npz"), **arrays)


def _named(x, prefix):
    """Flatten inputs (array, list or dict) into (key, array) pairs that round-trip."""
    if isinstance(x, dict):
        return [("{}:dict:{}".format(prefix, key), np.asarray(x[key])) for key in sorted(x)]
    if isinstance(x, (list, tuple)):
        return [("{}:list:{}".format(prefix, i), np.asarray(v)) for i, v in enumerate(x)]
    return [(prefix, np.asarray(x))]


def load_reference(directory):
    """Inverse of ``save_reference``: (inputs, list of expected outputs)."""
    with np.load(os.path.join(directory, "reference.npz"), allow_pickle=False) as data:
        keys = list(data.keys())
        outputs = [data["y{}".format(i)].astype(np.float64) for i in range(sum(k.startswith("y") for k in keys))]
        if "x" in keys:
            return data["x"], outputs
        dict_keys = sorted(k for k in keys if k.startswith("x:dict:"))
        if dict_keys:
            return dict((k[len("x:dict:"):], data[k]) for k in dict_keys), outputs
        list_keys = sorted((k for k in keys if k.startswith("x:list:")), key=lambda k: int(k.split(":")[2]))
        return [data[k] for k in list_keys], outputs

