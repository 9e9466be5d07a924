"""Tests for media.photos: every image is generated here, no binary fixtures."""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import struct
import subprocess
import sys
import warnings
import zlib
from decimal import Decimal
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFile
from PIL.ExifTags import IFD

from media.photos import (
    CorruptPhoto,
    PhotoBomb,
    PhotoTooLarge,
    ProcessedPhoto,
    UnsupportedPhoto,
    is_probably_same_photo,
    phash_distance,
    process_photo,
    sniff_format,
)
from models.errors import ValidationError

PIL_NAMES = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "heic": "HEIF"}


def scene(seed: int, size: tuple[int, int] = (400, 300)) -> Image.Image:
    """A deterministic busy picture: flat colours would all share the same phash."""
    rng = random.Random(seed)
    img = Image.new("RGB", size, (rng.randrange(256), rng.randrange(256), rng.randrange(256)))
    draw = ImageDraw.Draw(img)
    for _ in range(25):
        x0, y0 = rng.randrange(size[0]), rng.randrange(size[1])
        x1, y1 = x0 + rng.randrange(20, 200), y0 + rng.randrange(20, 150)
        colour = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
        if rng.random() < 0.5:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
    return img


def encode(img: Image.Image, fmt: str, **kwargs: object) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format=PIL_NAMES[fmt], **kwargs)
    return buf.getvalue()


def evidence_exif(orientation: int = 1) -> bytes:
    """EXIF as a Huawei phone writes it: camera, capture time with offset, GPS near Hangzhou."""
    exif = Image.Exif()
    exif[0x010F] = "HUAWEI\x00"
    exif[0x0110] = "ELE-AL00"
    exif[0x0112] = orientation
    exif[0x0132] = "2024:05:02 09:00:00"
    exif_ifd = exif.get_ifd(IFD.Exif)
    exif_ifd[0x9003] = "2024:05:01 08:30:15"
    exif_ifd[0x9011] = "+08:00"
    gps = exif.get_ifd(IFD.GPSInfo)
    gps[1] = "N"
    gps[2] = (30.0, 16.0, 30.0)  # 30.275
    gps[3] = "W"
    gps[4] = (120.0, 9.0, 36.0)  # -120.16
    return exif.tobytes()


def assert_stripped(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "JPEG"
        assert img.mode == "RGB"
        assert len(img.getexif()) == 0
        assert img.getexif().get_ifd(IFD.GPSInfo) == {}
        for key in ("exif", "icc_profile", "xmp", "comment"):
            assert key not in img.info
    assert b"Exif\x00\x00" not in data
    assert b"HUAWEI" not in data and b"ELE-AL00" not in data
    assert b"http://ns.adobe.com/xap/1.0/" not in data


# --- format detection ---------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "heic"])
def test_each_format_detected_by_content(fmt: str) -> None:
    data = encode(scene(1), fmt)
    photo = process_photo(data)
    assert isinstance(photo, ProcessedPhoto)
    assert photo.format == fmt
    assert (photo.width, photo.height) == (400, 300)
    assert photo.sha256 == hashlib.sha256(data).hexdigest()
    assert len(photo.phash) == 16 and int(photo.phash, 16) >= 0
    with Image.open(io.BytesIO(photo.image_bytes)) as stored:
        assert stored.format == "JPEG" and stored.size == (400, 300)
    with Image.open(io.BytesIO(photo.thumb_bytes)) as thumb:
        assert thumb.format == "JPEG" and thumb.size == (320, 240)


def test_jpeg_in_a_file_named_png_is_jpeg(tmp_path: Path) -> None:
    path = tmp_path / "basket.png"
    path.write_bytes(encode(scene(2), "jpeg"))
    assert process_photo(path.read_bytes()).format == "jpeg"


def test_heic_round_trip_keeps_pixels_and_metadata() -> None:
    img = Image.new("RGB", (64, 48), (200, 30, 30))
    data = encode(img, "heic", exif=evidence_exif(), quality=90)
    assert data[4:12] == b"ftypheic"
    photo = process_photo(data)
    assert photo.format == "heic"
    assert (photo.width, photo.height) == (64, 48)
    assert photo.metadata["camera_make"] == "HUAWEI"
    assert photo.metadata["gps_lat"] == "30.2750000"
    with Image.open(io.BytesIO(photo.image_bytes)) as stored:
        r, g, b = stored.getpixel((32, 24))
        assert r > 170 and g < 70 and b < 70
    assert_stripped(photo.image_bytes)


@pytest.mark.parametrize(
    "data",
    [
        b"GIF89a" + bytes(64),
        b"BM" + bytes(64),
        b"\x00\x00\x00\x1cftypavif\x00\x00\x00\x00avifmif1miaf",  # AVIF shares HEIF's box layout
        b"%PDF-1.7\n",
        b"",
    ],
)
def test_other_formats_rejected(data: bytes) -> None:
    with pytest.raises(UnsupportedPhoto) as info:
        process_photo(data)
    assert info.value.code == "PHOTO_UNSUPPORTED_FORMAT"
    assert info.value.message.startswith("不支持的图片格式")


def test_real_gif_rejected_even_though_pillow_reads_it() -> None:
    buf = io.BytesIO()
    scene(3).save(buf, format="GIF")
    with pytest.raises(UnsupportedPhoto):
        process_photo(buf.getvalue())


def test_random_bytes_unsupported() -> None:
    data = random.Random(7).randbytes(50_000)
    assert sniff_format(data) is None
    with pytest.raises(UnsupportedPhoto):
        process_photo(data)


# --- orientation and metadata -------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["jpeg", "webp", "heic"])
def test_exif_orientation_6_rotates_clockwise(fmt: str) -> None:
    # Stored as sensor pixels: 40 wide, 20 tall, top half red, bottom half blue.
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    img.paste((255, 0, 0), (0, 0, 40, 10))
    photo = process_photo(encode(img, fmt, exif=evidence_exif(orientation=6), quality=95))
    assert (photo.width, photo.height) == (20, 40)
    assert photo.metadata["orientation"] == 6
    with Image.open(io.BytesIO(photo.image_bytes)) as stored:
        assert stored.size == (20, 40)
        # Rotating 90° clockwise puts the former top (red) on the right.
        right, left = stored.getpixel((16, 20)), stored.getpixel((3, 20))
    assert right[0] > 200 and right[2] < 60
    assert left[2] > 200 and left[0] < 60


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
def test_metadata_extracted_but_absent_from_outputs(fmt: str) -> None:
    kwargs: dict[str, object] = {"exif": evidence_exif()}
    if fmt == "jpeg":
        kwargs["xmp"] = b'<x:xmpmeta><rdf:Description exif:GPSLatitude="30,16.5N"/></x:xmpmeta>'
        kwargs["comment"] = b"HUAWEI field camera"
    photo = process_photo(encode(scene(4), fmt, **kwargs))
    meta = photo.metadata
    assert meta["camera_make"] == "HUAWEI"
    assert meta["camera_model"] == "ELE-AL00"
    assert meta["captured_at"] == "2024-05-01T08:30:15+08:00"
    assert Decimal(meta["gps_lat"]) == Decimal("30.275")
    assert Decimal(meta["gps_lon"]) == Decimal("-120.16")
    assert json.loads(json.dumps(meta)) == meta
    assert_stripped(photo.image_bytes)
    assert_stripped(photo.thumb_bytes)


def test_photo_without_exif_has_empty_metadata() -> None:
    meta = process_photo(encode(scene(5), "png")).metadata
    assert meta["captured_at"] is None and meta["gps_lat"] is None and meta["camera_make"] is None


def test_bogus_exif_values_are_ignored_not_fatal() -> None:
    exif = Image.Exif()
    exif[0x0132] = "0000:00:00 00:00:00"
    gps = exif.get_ifd(IFD.GPSInfo)
    gps[1], gps[2], gps[3], gps[4] = "N", (95.0, 0.0, 0.0), "E", (120.0, 0.0, 0.0)
    meta = process_photo(encode(scene(6), "jpeg", exif=exif.tobytes())).metadata
    assert meta["captured_at"] is None
    assert meta["gps_lat"] is None and meta["gps_lon"] is None


def test_icc_profile_converted_and_dropped() -> None:
    from PIL import ImageCms

    icc = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()
    photo = process_photo(encode(scene(7), "jpeg", icc_profile=icc))
    assert_stripped(photo.image_bytes)


def test_transparent_png_flattened_on_white() -> None:
    img = Image.new("RGBA", (50, 50), (0, 0, 0, 0))
    photo = process_photo(encode(img, "png"))
    with Image.open(io.BytesIO(photo.image_bytes)) as stored:
        assert min(stored.getpixel((25, 25))) > 245


def test_large_photo_downscaled_to_max_side() -> None:
    photo = process_photo(encode(scene(8, (3000, 1000)), "jpeg"), max_side=1200, thumb_side=100)
    assert (photo.width, photo.height) == (3000, 1000)
    with Image.open(io.BytesIO(photo.image_bytes)) as stored:
        assert stored.size == (1200, 400)
    with Image.open(io.BytesIO(photo.thumb_bytes)) as thumb:
        assert max(thumb.size) == 100


# --- hostile and broken input -------------------------------------------------------------------


@pytest.mark.parametrize("keep", [0.5, 0.9])
def test_truncated_jpeg_is_corrupt(keep: float) -> None:
    data = encode(scene(9), "jpeg")
    with pytest.raises(CorruptPhoto) as info:
        process_photo(data[: int(len(data) * keep)])
    assert info.value.code == "PHOTO_CORRUPT"
    assert info.value.message.startswith("照片已损坏")


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp", "heic"])
def test_header_only_is_corrupt(fmt: str) -> None:
    with pytest.raises(CorruptPhoto):
        process_photo(encode(scene(10), fmt)[:40])


def test_oversized_bytes_rejected_before_decoding() -> None:
    data = b"\xff\xd8\xff" + bytes(15 * 1024 * 1024)
    with pytest.raises(PhotoTooLarge) as info:
        process_photo(data)
    err = info.value
    assert isinstance(err, ValidationError)
    assert (err.code, err.http_status) == ("PHOTO_TOO_LARGE", 413)
    assert err.message.startswith("照片太大")
    assert err.details["max_bytes"] == 15 * 1024 * 1024


def test_max_bytes_is_inclusive() -> None:
    data = encode(scene(11), "jpeg")
    assert process_photo(data, max_bytes=len(data)).format == "jpeg"
    with pytest.raises(PhotoTooLarge):
        process_photo(data, max_bytes=len(data) - 1)


def png_bomb(width: int, height: int) -> bytes:
    """A valid 1-bit greyscale PNG of width x height zero pixels, a few dozen KB on disk."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = bytes(1 + (width + 7) // 8)  # filter byte + packed bits
    comp = zlib.compressobj(9)
    idat = b"".join(comp.compress(row) for _ in range(height)) + comp.flush()
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


@pytest.fixture(scope="module")
def bomb_20k() -> bytes:
    return png_bomb(20_000, 20_000)


def test_png_bomb_rejected_without_decoding(bomb_20k: bytes, monkeypatch: pytest.MonkeyPatch) -> None:
    assert len(bomb_20k) < 200_000  # small on the wire, 400 M pixels once decoded
    loads: list[object] = []
    real_load = ImageFile.ImageFile.load
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self) or real_load(self))
    with pytest.raises(PhotoBomb) as info:
        process_photo(bomb_20k)
    assert loads == []
    assert info.value.code == "PHOTO_TOO_MANY_PIXELS"
    assert info.value.message.startswith("照片像素过大")


def test_png_bomb_does_not_allocate_pixels(bomb_20k: bytes, tmp_path: Path) -> None:
    # Measured in a fresh process: decoding would need >= 400 MB for the 8-bit pixel buffer.
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(bomb_20k)
    script = (
        "import resource, sys\n"
        "from media.photos import process_photo, PhotoBomb\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "try:\n"
        "    process_photo(open(sys.argv[1], 'rb').read())\n"
        "except PhotoBomb:\n"
        "    print((resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) // 1024)\n"
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": str(root)}
    out = subprocess.run(
        [sys.executable, "-c", script, str(bomb)], capture_output=True, text=True, env=env, timeout=120, check=True
    )
    assert int(out.stdout.strip()) < 50  # MB of peak RSS growth


def test_own_pixel_cap_applies_below_pillow_default() -> None:
    data = encode(scene(12, (400, 300)), "png")
    with pytest.raises(PhotoBomb) as info:
        process_photo(data, max_pixels=100_000)
    assert info.value.details == {"width": 400, "height": 300, "max_pixels": 100_000}


def test_pillow_bomb_warning_becomes_error_without_leaking(monkeypatch: pytest.MonkeyPatch) -> None:
    # With a generous cap of ours, Pillow's own warning threshold is the one that must bite.
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1_000_000)
    filters_before = list(warnings.filters)
    with pytest.raises(PhotoBomb):
        process_photo(png_bomb(1_200, 1_000), max_pixels=10**9)
    assert warnings.filters == filters_before
    assert Image.MAX_IMAGE_PIXELS == 1_000_000
    # The next, normal photo is unaffected by the previous rejection.
    assert process_photo(encode(scene(13), "png")).format == "png"


# --- perceptual hash ----------------------------------------------------------------------------


def test_same_photo_reencoded_or_resized_is_close() -> None:
    original = scene(20, (800, 600))
    a = process_photo(encode(original, "png")).phash
    b = process_photo(encode(original, "jpeg", quality=60)).phash
    c = process_photo(encode(original.resize((720, 540), Image.Resampling.BILINEAR), "webp", quality=70)).phash
    assert phash_distance(a, b) <= 4 and is_probably_same_photo(a, b)
    assert phash_distance(a, c) <= 6 and is_probably_same_photo(a, c)


def test_different_photos_are_far_apart() -> None:
    hashes = [process_photo(encode(scene(seed, (800, 600)), "jpeg")).phash for seed in (30, 31, 32)]
    for i, a in enumerate(hashes):
        for b in hashes[i + 1 :]:
            assert phash_distance(a, b) > 12
            assert not is_probably_same_photo(a, b)


def test_phash_distance_basics() -> None:
    assert phash_distance("0" * 16, "f" * 16) == 64
    assert phash_distance("00000000000000ff", "00000000000000FF") == 0
    assert is_probably_same_photo("0" * 16, "000000000000003f", threshold=6)
    assert not is_probably_same_photo("0" * 16, "000000000000007f", threshold=6)
    with pytest.raises(ValueError):
        phash_distance("xyz", "0" * 16)


def test_processed_photo_is_frozen() -> None:
    photo = process_photo(encode(scene(40), "jpeg"))
    with pytest.raises(AttributeError):
        photo.sha256 = "0" * 64  # type: ignore[misc]
