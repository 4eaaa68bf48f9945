"""A small blocking MLLP sender: ``aiguillage send``, the tests and the benchmark use it.

It sends one frame and waits for its ACK (a synchronous sender, like most integration engines)."""

from __future__ import annotations

import socket
import ssl
from pathlib import Path
from types import TracebackType

from hl7_listeners.framing import Frame, FrameReader, frame


class MllpError(Exception):
    pass


class MllpClient:
    def __init__(self, host: str, port: int, *, ssl_context: ssl.SSLContext | None = None,
                 server_hostname: str | None = None, timeout: float = 10.0) -> None:
        self.host, self.port = host, port
        self._ssl = ssl_context
        self._server_hostname = server_hostname or host
        self._timeout = timeout
        self._sock: socket.socket | None = None
        self._reader = FrameReader(1 << 30)
        self._acks: list[bytes] = []

    def connect(self) -> MllpClient:
        sock = socket.create_connection((self.host, self.port), timeout=self._timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if self._ssl is not None:
            sock = self._ssl.wrap_socket(sock, server_hostname=self._server_hostname)
        self._sock = sock
        return self

    def __enter__(self) -> MllpClient:
        return self.connect() if self._sock is None else self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @property
    def sock(self) -> socket.socket:
        if self._sock is None:
            raise MllpError("not connected")
        return self._sock

    def close(self) -> None:
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None

    def send(self, message: bytes) -> bytes:
        """Send one message in an MLLP block and return its ACK (without the block)."""
        self.sock.sendall(frame(message))
        return self.read_ack()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def read_ack(self) -> bytes:
        """The next ACK frame; raises ``MllpError`` when the peer closes first, ``TimeoutError`` on timeout."""
        while not self._acks:
            data = self.sock.recv(65536)
            if not data:
                raise MllpError("connexion fermée par le récepteur avant l'acquittement")
            self._acks.extend(e.payload for e in self._reader.feed(data) if isinstance(e, Frame))
        return self._acks.pop(0)

    def shutdown_write(self) -> None:
        """Half-close: tell the listener nothing more comes; ACKs can still be read."""
        self.sock.shutdown(socket.SHUT_WR)


def ack_summary(ack: bytes) -> tuple[str, str, str]:
    """(MSA-1, MSA-2, ERR-8 text or "") of an ACK, decoded as latin-1 if it is not UTF-8."""
    try:
        text = ack.decode("utf-8")
    except UnicodeDecodeError:
        text = ack.decode("latin-1")
    segments = text.replace("\n", "\r").split("\r")
    sep = segments[0][3:4] if segments and segments[0].startswith("MSH") else "|"
    code = control = reason = ""
    for segment in segments:
        fields = segment.split(sep)
        if fields[0] == "MSA":
            code = fields[1] if len(fields) > 1 else ""
            control = fields[2] if len(fields) > 2 else ""
        elif fields[0] == "ERR" and len(fields) > 8:
            reason = fields[8]
    return code, control, reason


def read_message_file(path: Path) -> list[bytes]:
    """The messages of a sample file: segments one per line (\\n, \\r\\n or \\r), a new message at each MSH line;
    blank lines and lines starting with ``#`` are ignored. Bytes are kept as written (charset per MSH-18)."""
    data = path.read_bytes()
    lines = data.replace(b"\r\n", b"\n").replace(b"\r", b"\n").split(b"\n")
    messages: list[list[bytes]] = []
    for line in lines:
        if not line.strip() or line.startswith(b"#"):
            continue
        if line.startswith(b"MSH") or not messages:
            messages.append([])
        messages[-1].append(line)
    return [b"\r".join(segments) + b"\r" for segments in messages]
