"""Turn uploaded photos and recordings into evidence and transcripts (CPU work, before the transaction)."""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

from flask import Flask

from app.factory import settings_of
from media.audio import decode_to_pcm16k
from media.evidence import STORED_SIDE, store_photo
from media.photos import ProcessedPhoto, check_photo, process_photo
from media.speech import SpeechUnavailable, Transcript, chinese_quantity_grammar, load_recognizer
from media.storage import MediaStorage, key_for
from models.errors import ValidationError
from models.operations.intake import PhotoEvidence

log = logging.getLogger(__name__)

MAX_PHOTOS = 6
#: Pixels one request may make us decode (six 24 MP photos): six 40 MP PNGs held a worker 13.5 s.
MAX_REQUEST_PIXELS = 6 * 24_000_000
SPEECH_DISABLED = ("SPEECH_DISABLED", "语音识别未启用，请直接输入重量")


class SpeechDisabled(ValidationError):
    """No speech model (or one that knows none of our words): the client should show the weight field.

    A 422 rather than media.speech's 503: the request can succeed at once if it carries a typed weight.
    """

    code = "SPEECH_DISABLED"
    default_message = SPEECH_DISABLED[1]


class TooManyPhotos(ValidationError):
    code = "TOO_MANY_PHOTOS"
    default_message = f"一次最多上传 {MAX_PHOTOS} 张照片"


class PhotosTooLarge(ValidationError):
    code = "PHOTOS_TOO_MANY_PIXELS"
    http_status = 413
    default_message = "照片总像素过大，请少传几张或降低分辨率"


def storage(app: Flask) -> MediaStorage:
    """The app's media storage (local disk under MEDIA_ROOT; object storage can replace it)."""
    store: MediaStorage = app.extensions["liuzhuan"]["media"]
    return store


def read_photos(uploads: list[Any]) -> list[bytes]:
    """Read the uploaded photos, bounded in count (the request body is bounded by MAX_UPLOAD_BYTES)."""
    if len(uploads) > MAX_PHOTOS:
        raise TooManyPhotos(count=len(uploads))
    return [u.read() for u in uploads]


def check_photos(uploads: list[bytes]) -> None:
    """Refuse oversized, unknown or too-many-pixel photos from their headers, before any is decoded."""
    if len(uploads) > MAX_PHOTOS:
        raise TooManyPhotos(count=len(uploads))
    total = 0
    for data in uploads:
        width, height = check_photo(data)
        total += width * height
    if total > MAX_REQUEST_PIXELS:
        raise PhotosTooLarge(pixels=total, max_pixels=MAX_REQUEST_PIXELS)


@dataclass(frozen=True)
class DecodedPhotos:
    """Decoded, stripped photos held in memory: stored only once the intake has committed."""

    processed: tuple[ProcessedPhoto, ...]
    evidence: tuple[PhotoEvidence, ...]


def decode_photos(uploads: list[bytes]) -> DecodedPhotos:
    """Validate and decode every photo (nothing is stored here), naming each by its content key."""
    check_photos(uploads)
    processed = tuple(process_photo(data, max_side=STORED_SIDE) for data in uploads)
    evidence = tuple(
        PhotoEvidence(sha256=p.sha256, phash=p.phash, format=p.format, width=p.width, height=p.height,
                      image_key=key_for(p.sha256, "jpg"), thumb_key=key_for(p.sha256, "thumb.jpg"),
                      metadata=p.metadata)
        for p in processed)
    return DecodedPhotos(processed, evidence)


def store_photos(app: Flask, photos: DecodedPhotos) -> None:
    """Write the photos of a committed intake (content-addressed: a photo seen before is not rewritten)."""
    store = storage(app)
    for photo in photos.processed:
        store_photo(store, photo)


@dataclass(frozen=True)
class Heard:
    transcript: Transcript | None
    warnings: tuple[tuple[str, str], ...]


def recognise(app: Flask, audio: bytes, grade_words: list[str], *, typed: bool) -> Heard:
    """Decode and recognise a clip; with no model installed, a warning if a weight was typed, else a 422."""
    try:
        recognizer = load_recognizer(settings_of(app).vosk_model_path)
        decoded = decode_to_pcm16k(audio, max_bytes=5 * 1024 * 1024, max_seconds=30)
        transcript = recognizer.recognize(decoded, grammar=chinese_quantity_grammar(grade_words))
    except SpeechUnavailable as exc:
        if typed:
            return Heard(None, (SPEECH_DISABLED,))
        raise SpeechDisabled(fallback="weight", **exc.details) from exc
    log.info("speech: %.0f ms for %.1f s, conf %.2f", transcript.elapsed_ms, decoded.seconds, transcript.confidence)
    return Heard(transcript, ())


def request_digest(fields: dict[str, Any], photos: list[bytes], audio: bytes | None) -> str:
    """sha256 over the form fields and the files' digests: the identity of an intake request."""
    h = hashlib.sha256()
    for key in sorted(fields):
        h.update(f"{key}={fields[key]!s}\n".encode())
    for data in photos:
        h.update(hashlib.sha256(data).digest())
    if audio is not None:
        h.update(b"audio" + hashlib.sha256(audio).digest())
    return h.hexdigest()
