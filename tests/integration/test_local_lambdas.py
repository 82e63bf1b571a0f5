"""The local stack's way of loading functions behaves as Lambda's does under concurrent first requests."""

from __future__ import annotations

import os
import threading
from typing import Any
from unittest import mock

from tests.local.template import load_handler, named_stack

# An environment number no other test uses, so the function is loaded here for the first time.
FRESH_ENVIRONMENT = 9_731


def test_concurrent_first_loads_of_a_function_all_get_its_handler() -> None:
    threads = 8
    start = threading.Barrier(threads)
    handlers: list[Any] = []
    failures: list[BaseException] = []

    def load() -> None:
        start.wait()
        try:
            handlers.append(load_handler("ListDestinationsFunction", FRESH_ENVIRONMENT))
        except BaseException as error:  # any failure to load is the finding
            failures.append(error)

    workers = [threading.Thread(target=load) for _ in range(threads)]
    # A handler checks its function's settings as it loads (as in Lambda, from the template's environment).
    with mock.patch.dict(os.environ, named_stack().function_environment("ListDestinationsFunction")):
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert failures == []
    assert len(handlers) == threads and len({id(handler) for handler in handlers}) == 1
