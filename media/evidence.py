"""Store a validated photo and its thumbnail once, by content: shared by the mini-program and the bots."""

from __future__ import annotations

from dataclasses import dataclass

from media.photos import ProcessedPhoto
from media.storage import MediaStorage, key_for

#: Longest side of a stored photo. 2000 px, not 2048: a 4000x3000 phone JPEG then decodes at half
#: scale in the DCT (about 3x faster).
STORED_SIDE = 2000


@dataclass(frozen=True)
class StoredPhoto:
    photo: ProcessedPhoto
    image_key: str
    thumb_key: str


def store_photo(store: MediaStorage, photo: ProcessedPhoto) -> StoredPhoto:
    """Put the stripped image and its thumbnail under content keys (a photo seen before is not rewritten)."""
    image_key, thumb_key = key_for(photo.sha256, "jpg"), key_for(photo.sha256, "thumb.jpg")
    if not store.exists(image_key):
        store.put(image_key, photo.image_bytes, "image/jpeg")
        store.put(thumb_key, photo.thumb_bytes, "image/jpeg")
    return StoredPhoto(photo, image_key, thumb_key)
