"""keras-compat-matrix's host side: plan, run, compare and report (``harness/worker/`` runs apart,
inside each environment). ``ROOT`` is the checkout, where ``matrix.yaml``, ``fixtures/`` and, by
default, the work dir (``harness.workdir``) and ``reports/`` lie."""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
