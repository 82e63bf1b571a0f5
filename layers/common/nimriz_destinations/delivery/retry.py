"""The retry schedule (design §8.1): 6 attempts, exponential backoff with jitter, a provider's stated wait honoured up
to 12 hours; throttled answers wait the provider's time and are bounded apart from the 6."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

MAX_ATTEMPTS = 6
SQS_MAX_VISIBILITY_SECONDS = 43_200  # SQS refuses a longer visibility timeout
# The longest a provider's stated wait (Retry-After, Google Ads' retryDelay, Meta's time to regain access) is
# honoured, on every stage: the longest one SQS receive can keep a job out of sight. A provider still throttling
# after it says so again. The local stack's short schedule (RETRY_* settings) never shortens it.
MAX_PROVIDER_WAIT_SECONDS = SQS_MAX_VISIBILITY_SECONDS
# Throttled answers not counted against the attempts; later ones count. 12 such waits of at most 12 h each keep a
# delivery's end within 7 days (inside the 30-day delivery log retention its record lives by) and its embedded log
# at 24 entries at most with the attempts and failures before sending.
MAX_THROTTLED_ANSWERS = 12


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base_seconds: float = 60.0
    factor: float = 4.0
    max_delay_seconds: float = 6 * 3600.0
    jitter: float = 0.2  # ± fraction, so retries of a burst do not arrive together
    max_attempts: int = MAX_ATTEMPTS
    max_throttled: int = MAX_THROTTLED_ANSWERS

    def should_retry(self, attempt: int) -> bool:
        return attempt < self.max_attempts

    def delay_after(self, attempt: int, retry_after: float | None = None, rng: random.Random | None = None) -> int:
        """Seconds to wait before attempt `attempt + 1`: our backoff up to `max_delay_seconds`, or a provider's
        Retry-After when longer, up to MAX_PROVIDER_WAIT_SECONDS."""
        spread = 1.0 + (rng or random).uniform(-self.jitter, self.jitter)
        delay = min(self.base_seconds * self.factor ** (attempt - 1) * spread, self.max_delay_seconds)
        if retry_after is not None:
            delay = max(delay, retry_after)
        return max(1, round(min(delay, MAX_PROVIDER_WAIT_SECONDS)))

    def throttled_delay(self, attempt: int, wait: float | None, rng: random.Random | None = None) -> int:
        """Seconds to wait after a throttled answer: the provider's `wait` (up to MAX_PROVIDER_WAIT_SECONDS) plus up
        to `jitter` of it, never less, so jobs throttled together do not all come back at once; our backoff when the
        provider states no wait."""
        if wait is None:
            return self.delay_after(attempt, rng=rng)
        spread = 1.0 + (rng or random).uniform(0.0, self.jitter)
        return max(1, min(MAX_PROVIDER_WAIT_SECONDS, math.ceil(min(wait, MAX_PROVIDER_WAIT_SECONDS) * spread)))
