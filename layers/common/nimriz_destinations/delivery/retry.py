"""The retry schedule (design §8.1): 6 attempts, exponential backoff with jitter, Retry-After up to the cap."""

from __future__ import annotations

import random
from dataclasses import dataclass

MAX_ATTEMPTS = 6
SQS_MAX_VISIBILITY_SECONDS = 43_200  # SQS refuses a longer visibility timeout


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_seconds: float = 60.0
    factor: float = 4.0
    max_delay_seconds: float = 6 * 3600.0
    jitter: float = 0.2  # ± fraction, so retries of a burst do not arrive together
    max_attempts: int = MAX_ATTEMPTS

    def should_retry(self, attempt: int) -> bool:
        return attempt < self.max_attempts

    def delay_after(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> int:
        """Seconds to wait before attempt `attempt + 1`; a provider's Retry-After wins when longer, up to the cap."""
        spread = 1.0 + (rng or random).uniform(-self.jitter, self.jitter)
        delay = self.base_seconds * self.factor ** (attempt - 1) * spread
        if retry_after is not None:
            delay = max(delay, retry_after)
        cap = min(self.max_delay_seconds, SQS_MAX_VISIBILITY_SECONDS)
        return max(1, round(min(delay, cap)))
