"""Shared helpers of the fault tests: the integration helpers (mkd.py) plus
the fault_tool binary."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))

from mkd import (Memokeyd, RedisServer, free_port, request, sanitized, slack)  # noqa: E402,F401


def fault_tool() -> str:
    path = os.environ.get("FAULT_TOOL") or str(ROOT / "build/release/tests/faults/fault_tool")
    if not os.access(path, os.X_OK):
        raise RuntimeError(f"fault_tool not found at {path} (set FAULT_TOOL)")
    return path
