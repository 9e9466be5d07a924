"""Validate, orient, strip and fingerprint delivery-note photos taken on farmers' phones."""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import imagehash
import pillow_heif
from PIL import Image, ImageCms, ImageOps, UnidentifiedImageError
from PIL.ExifTags import IFD

from models.errors import ValidationError

# Registering is idempotent and only adds the HEIF opener; phones (iPhones, newer Huawei) send HEIC.
pillow_heif.register_heif_opener()

__all__ = [
    "CorruptPhoto",
    "PhotoBomb",
    "PhotoTooLarge",
    "ProcessedPhoto",
    "UnsupportedPhoto",
    "check_photo",
    "is_probably_same_photo",
    "phash_distance",
    "process_photo",
]


class PhotoTooLarge(ValidationError):
    code = "PHOTO_TOO_LARGE"
    http_status = 413
    default_message = "照片太大，请压缩后重新上传"


class UnsupportedPhoto(ValidationError):
    code = "PHOTO_UNSUPPORTED_FORMAT"
    default_message = "不支持的图片格式，请上传 JPEG、PNG、WebP 或 HEIC 照片"


class CorruptPhoto(ValidationError):
    code = "PHOTO_CORRUPT"
    default_message = "照片已损坏，无法读取，请重新拍摄上传"


class PhotoBomb(ValidationError):
    code = "PHOTO_TOO_MANY_PIXELS"
    default_message = "照片像素过大，请降低分辨率后重新上传"


@dataclass(frozen=True)
class ProcessedPhoto:
    """A validated photo: stripped storage JPEG, thumbnail, fingerprints and evidence metadata."""

    sha256: str
    phash: str
    format: str
    width: int
    height: int
    image_bytes: bytes = field(repr=False)
    thumb_bytes: bytes = field(repr=False)
    metadata: dict[str, Any]


# Our format name -> the Pillow plugin allowed to parse it, so a sniffed JPEG is never handed to another decoder.
_PIL_FORMATS = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "heic": "HEIF"}
# HEVC-coded HEIF brands only: a bare "mif1"/"avif" file is AVIF or something libde265 cannot decode.
_HEIC_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs"})
# Errors Pillow/libheif raise for malformed input; anything else is a bug and should surface as such.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError)
_TEXT_MAX = 64
_GPS_QUANTUM = Decimal("0.0000001")  # ~1 cm: more digits than any phone GPS can honestly claim
_HASH_RE = re.compile(r"[0-9a-fA-F]{16}")


def process_photo(
    data: bytes,
    *,
    max_bytes: int = 15 * 1024 * 1024,
    max_pixels: int = 40_000_000,
    max_side: int = 2048,
    thumb_side: int = 320,
) -> ProcessedPhoto:
    """Validate an uploaded photo and return its stripped storage image, thumbnail and evidence data."""
    data = bytes(data)
    fmt, img = _open_checked(data, max_bytes, max_pixels)
    try:
        # Read EXIF from the file as sent: exif_transpose drops the orientation tag we report.
        metadata = _extract_metadata(img)
        full_size = img.size
        scale = _draft_jpeg(img, max_side) if fmt == "jpeg" else 1
        img.load()
        oriented = ImageOps.exif_transpose(img)
        rgb = _to_srgb(oriented)
        phash = str(imagehash.phash(rgb))
        stored = _fit(rgb, max_side)
        thumb = _fit(stored, thumb_side)
        image_bytes = _encode_jpeg(stored)
        thumb_bytes = _encode_jpeg(thumb)
    except _DECODE_ERRORS as exc:
        raise CorruptPhoto(reason=type(exc).__name__) from exc
    finally:
        img.close()
    return ProcessedPhoto(
        sha256=hashlib.sha256(data).hexdigest(),
        phash=phash,
        format=fmt,
        # The size as taken (after orientation), even when the JPEG was decoded at a reduced scale.
        width=rgb.width if scale == 1 else full_size[_swaps_axes(metadata)],
        height=rgb.height if scale == 1 else full_size[not _swaps_axes(metadata)],
        image_bytes=image_bytes,
        thumb_bytes=thumb_bytes,
        metadata=metadata,
    )


def check_photo(data: bytes, *, max_bytes: int = 15 * 1024 * 1024, max_pixels: int = 40_000_000) -> tuple[int, int]:
    """Check size, format and dimensions from the header only (no pixel decoded); return (width, height)."""
    _fmt, img = _open_checked(data, max_bytes, max_pixels)
    size = img.size
    img.close()
    return size


def _open_checked(data: bytes, max_bytes: int, max_pixels: int) -> tuple[str, Image.Image]:
    """Open a photo lazily after the cheap checks: byte size first (before anything parses), then format."""
    if len(data) > max_bytes:
        raise PhotoTooLarge(size=len(data), max_bytes=max_bytes)
    fmt = sniff_format(data)
    if fmt is None:
        raise UnsupportedPhoto()
    return fmt, _open(data, fmt, max_pixels)


def sniff_format(data: bytes) -> str | None:
    """Return "jpeg", "png", "webp" or "heic" from the magic bytes, or None for anything else."""
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if len(data) >= 16 and data[4:8] == b"ftyp":
        box_size = int.from_bytes(data[:4], "big")
        end = min(box_size, len(data), 256)
        # Major brand at 8..12, then minor version, then compatible brands in 4-byte steps.
        brands = {data[8:12]} | {data[i : i + 4] for i in range(16, end - 3, 4)}
        if brands & _HEIC_BRANDS:
            return "heic"
    return None


def phash_distance(a: str, b: str) -> int:
    """Hamming distance between two 16-hex-digit perceptual hashes."""
    for value in (a, b):
        if not _HASH_RE.fullmatch(value):
            raise ValueError(f"not a 64-bit hex phash: {value!r}")
    return (int(a, 16) ^ int(b, 16)).bit_count()


def is_probably_same_photo(a: str, b: str, threshold: int = 6) -> bool:
    """True when two phashes are close enough to be the same scene re-encoded or resized."""
    return phash_distance(a, b) <= threshold


def _open(data: bytes, fmt: str, max_pixels: int) -> Image.Image:
    """Open lazily with the sniffed plugin only and reject bombs before any pixel is decoded."""
    try:
        # Scoped filter, restored on exit, so the global warning state does not leak between calls.
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[_PIL_FORMATS[fmt]])
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as exc:
        raise PhotoBomb(reason=str(exc)) from exc
    except UnidentifiedImageError as exc:
        # The magic bytes matched but the header is unreadable: damaged, not an unknown format.
        raise CorruptPhoto(reason="unreadable header") from exc
    except _DECODE_ERRORS as exc:
        raise CorruptPhoto(reason=type(exc).__name__) from exc
    width, height = img.size
    # Only the header has been parsed here; our own cap is far below Pillow's global default.
    if width * height > max_pixels:
        img.close()
        raise PhotoBomb(width=width, height=height, max_pixels=max_pixels)
    if width <= 0 or height <= 0:
        img.close()
        raise CorruptPhoto(reason="empty image")
    return img


def _draft_jpeg(img: Image.Image, max_side: int) -> int:
    """Decode a big JPEG at 1/2, 1/4 or 1/8 scale (in the DCT, several times faster), never below max_side."""
    width, height = img.size
    scale = 1
    while scale < 8 and max(width, height) // (scale * 2) >= max_side:
        scale *= 2
    if scale > 1:
        img.draft("RGB", (width // scale, height // scale))
    return scale


def _swaps_axes(metadata: dict[str, Any]) -> bool:
    """EXIF orientations 5-8 rotate by 90 degrees: the picture is as wide as the file is high."""
    return metadata.get("orientation") in (5, 6, 7, 8)


def _to_srgb(img: Image.Image) -> Image.Image:
    """Convert to plain sRGB RGB so the stored JPEG looks right without an embedded ICC profile."""
    icc = img.info.get("icc_profile")
    if icc and img.mode in ("RGB", "CMYK"):
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            converted = ImageCms.profileToProfile(img, src, ImageCms.createProfile("sRGB"), outputMode="RGB")
            if converted is not None:
                return converted
        except (ImageCms.PyCMSError, OSError, ValueError):
            pass  # A broken profile should not lose the evidence; fall back to a naive conversion.
    if img.mode in ("RGBA", "LA", "PA") or (img.mode == "P" and "transparency" in img.info):
        # Transparent areas would turn black in JPEG; white matches how the app displays them.
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return img.convert("RGB") if img.mode != "RGB" else img


def _fit(img: Image.Image, side: int) -> Image.Image:
    """Return a copy whose longest side is at most ``side``, keeping the aspect ratio."""
    out = img.copy()
    out.thumbnail((side, side), Image.Resampling.LANCZOS)
    return out


def _encode_jpeg(img: Image.Image) -> bytes:
    """Encode as a baseline JPEG carrying no EXIF, GPS, XMP, ICC or comment."""
    clean = img.copy()
    # Pillow's JPEG writer falls back to im.info for comment/XMP, which could carry location data.
    clean.info = {}
    buf = io.BytesIO()
    clean.save(buf, format="JPEG", quality=85, optimize=True)
    return buf.getvalue()


def _extract_metadata(img: Image.Image) -> dict[str, Any]:
    """Pull capture time, camera and GPS from EXIF into a JSON-safe dict (strings, ints, None)."""
    meta: dict[str, Any] = {
        "captured_at": None,
        "camera_make": None,
        "camera_model": None,
        "gps_lat": None,
        "gps_lon": None,
        "orientation": None,
    }
    try:
        exif = img.getexif()
        exif_ifd = exif.get_ifd(IFD.Exif)
        gps_ifd = exif.get_ifd(IFD.GPSInfo)
    except _DECODE_ERRORS:
        return meta  # Broken EXIF is common on cheap phones; the picture itself may still be fine.
    meta["camera_make"] = _text(exif.get(0x010F))
    meta["camera_model"] = _text(exif.get(0x0110))
    # pillow-heif moves the EXIF orientation into the HEIF transform and resets the tag to 1.
    orientation = img.info.get("original_orientation", exif.get(0x0112))
    meta["orientation"] = orientation if isinstance(orientation, int) else None
    # DateTimeOriginal is when the shutter fired; DateTime is rewritten by editing apps.
    meta["captured_at"] = _exif_datetime(exif_ifd.get(0x9003), exif_ifd.get(0x9011)) or _exif_datetime(
        exif.get(0x0132), exif_ifd.get(0x9010)
    )
    lat = _gps_coord(gps_ifd.get(2), gps_ifd.get(1), b"S", 90)
    lon = _gps_coord(gps_ifd.get(4), gps_ifd.get(3), b"W", 180)
    if lat is not None and lon is not None:
        # Decimal degrees as strings: exact, JSON-safe, and Decimal(value) round-trips.
        meta["gps_lat"], meta["gps_lon"] = str(lat), str(lon)
    return meta


def _text(value: Any) -> str | None:
    """Clean an EXIF ASCII value: phones pad with NULs and spaces, some write bytes."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", errors="replace")
    if not isinstance(value, str):
        return None
    value = "".join(ch for ch in value.replace("\x00", "") if ch.isprintable()).strip()
    return value[:_TEXT_MAX] or None


def _exif_datetime(value: Any, offset: Any) -> str | None:
    """Turn "YYYY:MM:DD HH:MM:SS" (+ optional "+08:00" offset) into ISO 8601, or None if bogus."""
    text = _text(value)
    if not text:
        return None
    try:
        moment = datetime.strptime(text[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None  # e.g. "0000:00:00 00:00:00" written by phones with no clock set
    iso = moment.isoformat()
    off = _text(offset)
    if off and re.fullmatch(r"[+-]\d{2}:\d{2}", off):
        iso += off
    return iso


def _gps_coord(dms: Any, ref: Any, negative_ref: bytes, limit: int) -> Decimal | None:
    """Convert an EXIF (deg, min, sec) triple and hemisphere ref to signed decimal degrees."""
    if not isinstance(dms, tuple) or len(dms) != 3:
        return None
    parts = [p for p in (_rational(v) for v in dms) if p is not None and p >= 0]
    if len(parts) != 3:
        return None
    deg, minutes, seconds = parts
    value = deg + minutes / 60 + seconds / 3600
    if value > limit:
        return None
    ref_text = (_text(ref) or "").upper().encode()
    if ref_text == negative_ref:
        value = -value
    return value.quantize(_GPS_QUANTUM)


def _rational(value: Any) -> Decimal | None:
    """Exact Decimal from an EXIF rational; None for 0 denominators that Pillow turns into NaN."""
    try:
        if hasattr(value, "numerator") and hasattr(value, "denominator"):
            num, den = value.numerator, value.denominator
            if not den:
                return None
            return Decimal(int(num)) / Decimal(int(den)) if isinstance(num, int) else Decimal(str(value))
        if isinstance(value, (int, float)):
            result = Decimal(str(value))
            return result if result.is_finite() else None
    except (InvalidOperation, ValueError, TypeError, ZeroDivisionError):
        return None
    return None
