"""Local tooling: the stack behind `make dev`, `make invoke`, and the OpenAPI generator.

The shared layer is importable as on Lambda (where it sits in /opt/python).
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the repository
_LAYER = str(ROOT / "layers" / "common")
if _LAYER not in sys.path:
    sys.path.insert(0, _LAYER)
