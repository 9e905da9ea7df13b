"""Refresh the golden baseline on purpose (after a deliberate change of results)."""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from tests.engine.test_golden import GOLDEN, golden_summary  # noqa: E402

GOLDEN.write_text(json.dumps(golden_summary(), indent=2) + "\n", encoding="utf-8")
print(f"wrote {GOLDEN}")
