"""The code Meta's and TikTok's Test Events tools show: a credential of those destinations and a field of a
validate-mode test-send's body. Apart from `conversions` so the API models take it without loading any adapter."""

from __future__ import annotations

from typing import Annotated

from pydantic import StringConstraints

TestEventCode = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
