"""Store model inputs (an array, a list or a dict of arrays) in ``.npz`` files and read them back.

Runs inside the environment under test (Python 3.7 syntax, numpy only). Keys are
``prefix`` for one array, ``prefix:list:I`` for a list, ``prefix:dict:NAME`` for a
dict; string arrays are stored as fixed-width unicode, so no pickle is needed.
"""
import numpy as np


def flatten(value, prefix):
    """(key, array) pairs for an array, a list of arrays or a dict of arrays."""
    if isinstance(value, dict):
        return [("{}:dict:{}".format(prefix, key), _plain(value[key])) for key in sorted(value)]
    if isinstance(value, (list, tuple)):
        return [("{}:list:{}".format(prefix, i), _plain(v)) for i, v in enumerate(value)]
    return [(prefix, _plain(value))]


def unflatten(data, prefix):
    """Inverse of :func:`flatten` over a mapping of key to array (e.g. an open ``.npz``)."""
    keys = list(data.keys())
    if prefix in keys:
        return data[prefix]
    dict_keys = sorted(k for k in keys if k.startswith(prefix + ":dict:"))
    if dict_keys:
        return dict((k[len(prefix + ":dict:"):], data[k]) for k in dict_keys)
    list_keys = sorted((k for k in keys if k.startswith(prefix + ":list:")), key=lambda k: int(k.rsplit(":", 1)[1]))
    return [data[k] for k in list_keys]


def numbered(data, prefix):
    """The arrays ``prefix0``, ``prefix1``, ... in order, as float64 (weights, outputs)."""
    keys = sorted((k for k in data.keys() if k.startswith(prefix) and k[len(prefix):].isdigit()),
                  key=lambda k: int(k[len(prefix):]))
    return [np.asarray(data[k], dtype=np.float64) for k in keys]


def _plain(value):
    array = np.asarray(value)
    return array.astype(str) if array.dtype.kind == "O" else array
