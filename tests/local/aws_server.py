"""The AWS stand-in: moto, corrected to behave and cost as AWS does, in this process or as a server of its own.

In the tests' process (`mock_aws`) the corrections are applied by `create_stack`. The local stack (`make dev`, the
end-to-end tests, `make bench`) runs moto's server in a process of its own, as AWS is another machine: its work then
never waits for the service's interpreter lock, nor the service's for its (design §10).

`python -m tests.local.aws_server [PORT]` serves on 127.0.0.1 (a free port unless given), prints its URL once it
listens, and stops when its standard input closes, which happens when the process that started it ends, however it
ends.
"""

from __future__ import annotations

import contextlib
import logging
import subprocess
import sys
from collections.abc import Iterator

from . import ROOT, dynamodb_limits, moto_fidelity, moto_speed


def correct_moto() -> None:
    """moto in this process refuses what AWS refuses, behaves as the service relies on, at AWS's cost (idempotent)."""
    moto_fidelity.apply()
    dynamodb_limits.apply()
    moto_speed.apply()


@contextlib.contextmanager
def aws_server_process(port: int = 0) -> Iterator[str]:
    """A moto server process for as long as the block runs; yields its endpoint URL."""
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.local.aws_server", str(port)],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        url = process.stdout.readline().strip()
        if not url:
            raise RuntimeError(f"the AWS stand-in did not start (exit code {process.wait()})")
        yield url
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main(argv: list[str]) -> int:
    from moto.server import ThreadedMotoServer

    correct_moto()
    # moto's server would log every AWS call the pollers make (several a second): keep the console readable.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(argv[0]) if argv else 0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    print(f"http://{host}:{port}", flush=True)
    sys.stdin.read()  # until the parent closes it or ends
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
