"""What the Telegram and MAX publishing tests share: a clock the pacers sleep on (nothing waits), photo files, the
account as the modules see it."""
from __future__ import annotations

import socket
import struct
import zlib

from app.services.accounts.platforms import Pacing
from app.services.publishing.networks import Channel, PhotoFile


class FakeClock:
    """A clock and a sleeper for the pacers: sleeping moves the clock, nothing waits."""

    def __init__(self, start: float = 1_795_000_000.0):
        self.now = start
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def pacing_on(clock: FakeClock) -> Pacing:
    return Pacing(clock=clock, sleep=clock.sleep)


def png(seed: int, size: int = 16) -> bytes:
    """A small valid PNG, different for each seed."""
    rgb = bytes(((seed * 37) % 256, (seed * 91) % 256, (seed * 53) % 256))
    raw = b"".join(b"\x00" + rgb * size for _ in range(size))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def photo_files(tmp_path, count: int) -> list[PhotoFile]:
    out = []
    for n in range(count):
        data = png(n + 1)
        path = tmp_path / f"photo{n + 1}.png"
        path.write_bytes(data)
        out.append(PhotoFile(path=str(path), content_type="image/png", size=len(data), name=f"Фото {n + 1}.png"))
    return out


def dead_url() -> str:
    """An address where nothing listens (connection refused: the request never leaves)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def channel(network: str, external_id, handle: str = "", title: str = "Школа № 3") -> Channel:
    return Channel(account_id=7, network=network, external_id=str(external_id), handle=handle, title=title)
