"""Nightly CI: the job matrix of a selection, split to the CI's limit (``jobs``), and the jobs' work
dirs merged into one run to report (``merge``)."""
