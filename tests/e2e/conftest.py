"""Prefect reads its settings when first imported: point PREFECT_HOME at a scratch directory
before any test here imports prefect (as tests/workflows does), so no test touches
~/.prefect, also when tests/e2e runs alone."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

if "PREFECT_HOME" not in os.environ:
    os.environ["PREFECT_HOME"] = tempfile.mkdtemp(prefix="taskflow-prefect-")
    atexit.register(shutil.rmtree, os.environ["PREFECT_HOME"], ignore_errors=True)
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
