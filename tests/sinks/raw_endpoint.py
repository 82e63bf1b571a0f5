"""A loopback HTTP endpoint that writes its answers byte for byte: for the answers a hostile endpoint gives and no
server library would (compression bombs, a response trickled one byte at a time).

`with RawEndpoint(answer) as endpoint:` serves on `endpoint.url`; each connection's request is read, then
`answer(connection)` writes whatever it likes. A client hanging up early is expected, not an error.
"""

from __future__ import annotations

import gzip
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable

Answer = Callable[[socket.socket], None]


class RawEndpoint:
    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.requests = 0
        self._server = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._stopping = threading.Event()

    @property
    def url(self) -> str:
        host, port = self._server.getsockname()[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> RawEndpoint:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping.set()
        self._server.shutdown(socket.SHUT_RDWR)  # wakes the accept() below; close() alone does not
        self._server.close()
        self._thread.join(timeout=5)

    def _serve(self) -> None:
        while not self._stopping.is_set():
            try:
                connection, _ = self._server.accept()
            except OSError:
                return  # closed by __exit__
            self.requests += 1
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        with connection:
            try:
                _read_request(connection)
                self.answer(connection)
            except OSError:
                pass  # the client hung up: what a capped reader does


def _read_request(connection: socket.socket) -> None:
    received = b""
    while b"\r\n\r\n" not in received:
        chunk = connection.recv(65536)
        if not chunk:
            return
        received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")),
        0,
    )
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            return
        body += chunk


def response_head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} Status", *(f"{name}: {value}" for name, value in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def whole(status: int, headers: dict[str, str], body: bytes) -> Answer:
    """The same complete response (Content-Length set) to every request."""
    head = response_head(status, {**headers, "Content-Length": str(len(body)), "Connection": "close"})

    def answer(connection: socket.socket) -> None:
        connection.sendall(head + body)

    return answer


def trickle(status: int, *, interval: float, max_bytes: int, in_head: bool) -> Answer:
    """One byte every `interval` seconds, of the status line onwards (`in_head`) or of the body after a complete
    head; at most `max_bytes` trickled, then the connection is closed."""
    body = b"x" * max_bytes
    head = response_head(status, {"Content-Type": "text/plain", "Content-Length": str(len(body))})

    def answer(connection: socket.socket) -> None:
        slow = head + body if in_head else body
        if not in_head:
            connection.sendall(head)
        for byte in slow[:max_bytes]:
            connection.sendall(bytes([byte]))
            time.sleep(interval)

    return answer


def endless(head: bytes, piece: bytes, *, seconds: float = 30.0) -> Answer:
    """`head`, then `piece` over and over for `seconds` or until the client hangs up: an answer whose every part
    is valid HTTP and which never ends, e.g. `103 Early Hints` after `103 Early Hints`."""

    def answer(connection: socket.socket) -> None:
        connection.sendall(head)
        stop_at = time.monotonic() + seconds
        while time.monotonic() < stop_at:
            connection.sendall(piece)

    return answer


def gzip_of_zeros(mebibytes: int) -> bytes:
    """`mebibytes` MiB of zero bytes as a valid gzip stream of about a thousandth of that size, built without
    compressing it all: after a full flush every MiB of zeros compresses to the same deflate bytes."""
    piece = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    block = compressor.compress(piece) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(mebibytes):
        crc = zlib.crc32(piece, crc)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"  # gzip magic, deflate, no name, no mtime
    trailer = struct.pack("<II", crc, (mebibytes << 20) & 0xFFFFFFFF)
    return header + block * mebibytes + compressor.flush() + trailer


def double_gzip_bomb(mebibytes: int) -> bytes:
    """For `Content-Encoding: gzip, gzip`: zeros gzipped twice, about a thousand bytes that decode to `mebibytes`
    MiB once both layers are undone."""
    return gzip.compress(gzip_of_zeros(mebibytes), compresslevel=9)
