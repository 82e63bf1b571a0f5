"""`--dist loadgroup` on pytest 9.2: the tests of one `xdist_group` go to one worker again.

pytest-xdist 3.8 tells its scheduler an item's group by appending `@<group>` to the item's node id, written to the
`_nodeid` field; pytest 9.2 keeps node ids in a structured field and no longer reads that one, so every group was
silently ignored (pytest-dev/pytest-xdist#1386): the local-stack tests ran on both workers, each starting a stack
of its own. Here the suffix goes into the node id pytest 9.2 reads; with an xdist that does it itself, nothing
changes.
"""

from __future__ import annotations

import pytest
from _pytest.nodeid import NodeId


@pytest.hookimpl(trylast=True)  # after xdist's own hook, so an xdist that works is left alone
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("loadgroup", default=False):  # set on xdist's workers under --dist loadgroup
        return
    for item in items:
        names = {str(mark.args[0] if mark.args else mark.kwargs.get("name", "default"))
                 for mark in item.iter_markers("xdist_group")}  # fmt: skip
        suffix = "@" + "_".join(sorted(names))
        if names and not item.nodeid.endswith(suffix):
            item._id = NodeId.parse(item.nodeid + suffix)
