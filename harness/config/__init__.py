"""The first step: ``matrix.yaml`` read (``matrix_yaml``), its templates expanded from the lock
(``env_templates``; ``lock`` writes the lock), validated (``validation``, ``spec_bounds``,
``expectation_keys``) into the dataclasses every later step shares (``spec``), with each cell's
tolerance (``tolerance``)."""
