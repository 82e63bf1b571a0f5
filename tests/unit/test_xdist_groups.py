"""`make test` runs pytest's workers with `--dist loadgroup`: tests of one `xdist_group` (e.g. the tests on the local
stack) run on one worker, so they share what the group starts once (one local stack per group, not one per worker)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[2]

GROUPED = """
import pytest

pytestmark = pytest.mark.xdist_group("shared")


@pytest.mark.parametrize("n", range(4))
def test_{name}(n):
    pass
"""


def test_the_tests_of_one_xdist_group_run_on_one_worker(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the project's plugin, as the project's conftest loads it
    pytester.makepyfile(test_first=GROUPED.format(name="first"), test_second=GROUPED.format(name="second"))
    pytester.makeconftest('pytest_plugins = ["tests.xdist_groups"]')

    result = pytester.runpytest_subprocess("-n", "2", "--dist", "loadgroup", "-v", "-p", "no:cacheprovider")

    result.assert_outcomes(passed=8)
    workers = set(re.findall(r"^\[(gw\d)\] .* PASSED test_", result.stdout.str(), re.MULTILINE))
    assert len(workers) == 1, result.stdout.str()
