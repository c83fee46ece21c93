"""What a model file would make a loader run or follow, and which load-path advisories apply per target.

- :mod:`.findings`: the file's findings, read without deserializing anything (h5py, zipfile,
  a hand-written protobuf walk; :mod:`.configs`, :mod:`.bytecode`, :mod:`.savedmodel` do the parts).
- :mod:`.advisories`: ``harness/check/security/advisories.yaml`` and the verdict per target version.
- :mod:`.scan`: ``nox -s scan``.
"""
