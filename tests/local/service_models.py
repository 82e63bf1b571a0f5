"""botocore's service models read from disk once per process, however many sessions it makes.

Each boto3 session gets a loader of its own, which reads and parses the JSON service models (DynamoDB's, SQS's, the
endpoint rules...) again: about 80 ms per client. The service makes a session per client, once per execution
environment in Lambda; the tests make fresh clients after every `runtime.reset()`, hundreds of times per process.
Sharing one loader between sessions makes the same clients from the same models, read once.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import botocore.session
from botocore.loaders import Loader


class _AddedOnce(list[str]):
    """Search paths: boto3 adds its own to a session's loader whenever it makes a session; once is enough."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


class _SharedLoader(Loader):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._search_paths: list[str] = _AddedOnce(self.search_paths)


@functools.cache
def _shared_loader(search_path_string: str | None = None) -> Loader:
    extra = search_path_string.split(os.pathsep) if search_path_string else None
    return _SharedLoader(extra_search_paths=extra)


def share_service_models() -> None:
    """Every botocore session made from now on in this process reads its models through one loader."""
    botocore.session.create_loader = _shared_loader
