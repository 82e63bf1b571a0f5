"""What sending one item came to (`GroupSender.send`): its outcome, the answer that decided it, and whether a request
carrying it went out (only then is it an attempt, design §8.1). Claims, chunks, outcomes and the invocation read it;
only the group sender makes one from an answer."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..providers.base import Outcome

NOT_IN_TIME = Outcome.retry("not_started", "There was no time left in this invocation to send it.")


@dataclass(slots=True)
class SendResult:
    outcome: Outcome
    http_status: int | None = None
    duration_ms: int | None = None
    response_excerpt: str | None = None
    request: dict[str, Any] | None = None
    sent: bool = True  # False: decided without a request to the destination going out (not an attempt)
    # Earlier requests of this group send that carried the item and were refused together (oldest first): each an
    # attempt of its own. Only a sent result has earlier ones.
    earlier: tuple[SendResult, ...] = ()

    @property
    def requests(self) -> int:
        """Requests on the wire that carried the item: its attempts in this result."""
        return len(self.earlier) + (1 if self.sent else 0)

    @property
    def started(self) -> bool:
        """False when nothing was tried for lack of time: the job goes back untried."""
        return self.outcome is not NOT_IN_TIME
