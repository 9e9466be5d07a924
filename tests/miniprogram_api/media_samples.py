"""Sample uploads for the intake tests: photos with EXIF/GPS, speech-like and silent clips."""

from __future__ import annotations

import io
import math
import random
import struct
import wave

from PIL import Image


def photo(seed: int = 1, size: tuple[int, int] = (640, 480), fmt: str = "JPEG", gps: bool = True) -> bytes:
    """A photo whose content (and so perceptual hash) depends on ``seed``, with camera and GPS EXIF."""
    rng = random.Random(seed)
    small = Image.new("RGB", (8, 8))
    small.putdata([(rng.randrange(256), rng.randrange(256), rng.randrange(256)) for _ in range(64)])
    img = small.resize(size, Image.Resampling.BICUBIC)
    exif = Image.Exif()
    exif[0x010F], exif[0x0110] = "HUAWEI", "P60"
    if gps:
        exif[0x8825] = {1: "N", 2: (30.0, 0.0, 0.0), 3: "E", 4: (120.0, 35.0, 0.0)}
    buf = io.BytesIO()
    img.save(buf, format=fmt, exif=exif.tobytes() if fmt == "JPEG" else None)
    return buf.getvalue()


def big_photo(megabytes: float = 3.0) -> bytes:
    """A noisy photo of about ``megabytes`` (noise does not compress), as a phone would send."""
    rng = random.Random(7)
    side = int(math.sqrt(megabytes * 1024 * 1024 / 1.2))
    img = Image.frombytes("RGB", (side, side), rng.randbytes(side * side * 3))
    buf = io.BytesIO()
    img.save(buf, format="JPEG", quality=90)
    return buf.getvalue()


def wav(seconds: float = 2.0, *, silent: bool = False) -> bytes:
    """A 16 kHz mono WAV: a warbling tone (passes the silence check) or digital silence."""
    count = int(16000 * seconds)
    samples = [0] * count if silent else [
        int(9000 * math.sin(2 * math.pi * (220 + 80 * math.sin(i / 1600)) * i / 16000)) for i in range(count)]
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(struct.pack(f"<{count}h", *samples))
    return buf.getvalue()
