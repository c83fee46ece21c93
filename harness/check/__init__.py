"""``nox -s check`` and ``nox -s scan``: one user's model file, read without deserializing it
(``modelfile``, ``inputs``), its source and target environments chosen (``check_plan``; ``releases``
resolves a release named with ``--to``), loaded there (``steps``) and reported (``report``, with its
Security section, ``security_section``, from what ``security/`` finds in the file)."""
