"""What the VK and OK publishing tests share: an injected clock for the pacers, photo files on disk, channels."""
from __future__ import annotations

import struct
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
