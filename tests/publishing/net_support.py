"""What the VK and OK publishing tests share: an injected clock for the pacers, photo files on disk, channels."""
from __future__ import annotations

import socket
import struct
import threading
import zlib
from pathlib import Path

from app.services.accounts.platforms import Pacing
from app.services.publishing.networks import PhotoFile


class FakeClock:
    """A clock and a sleeper for the pacers: sleeping moves the clock, nothing waits. `stamps`: the clock at each
    call that left (recorded by `mark`)."""

    def __init__(self):
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def make_pacing() -> Pacing:
    clock = FakeClock()
    pacing = Pacing(clock=clock, sleep=clock.sleep)
    pacing.clock_ = clock
    return pacing


def png(seed: int) -> bytes:
    """A tiny valid PNG, different for each seed."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    raw = b"\x00" + bytes([seed % 256, (seed * 7) % 256, (seed * 13) % 256])
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def photo_files(directory: Path, count: int) -> list[PhotoFile]:
    files = []
    for n in range(count):
        path = directory / f"{n}.png"
        data = png(n + 1)
        path.write_bytes(data)
        files.append(PhotoFile(str(path), "image/png", len(data), f"фото {n + 1}.png"))
    return files


class Silent:
    """A server on 127.0.0.1 that accepts connections and never answers (a platform that took the request and went
    quiet): `url` for the settings. Used with a short HTTP_TIMEOUT."""

    def __init__(self):
        self._socket = socket.socket()
        self._socket.bind(("127.0.0.1", 0))
        self._socket.listen(8)
        self._socket.settimeout(0.1)
        self._held: list = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._socket.getsockname()[1]}"

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                self._held.append(self._socket.accept()[0])
            except OSError:
                continue

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for conn in self._held:
            conn.close()
        self._socket.close()
