"""Evidence photos as bytes, for whoever may see them: the one way a channel reads a stored photo.

The store is the app's media storage (``app.extensions["liuzhuan"]["media"]``: local disk under
MEDIA_ROOT; object storage can replace it); a channel never opens it on its own, so the visibility
check cannot be skipped. A missing file is NotFound, the same answer as a photo the actor may not see.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from media.storage import MediaNotFound, MediaStorage
from models.actor import Actor
from models.errors import NotFound
from models.operations.evidence import photo_visible
from models.queries.document_detail import photo_key


def read_document_photo(session: Session, actor: Actor, store: MediaStorage, photo_id: int, *, thumb: bool) -> bytes:
    """A document's evidence photo (its thumbnail, or the full image), seen with its document or not at all."""
    key = photo_key(session, actor, photo_id, thumb=thumb)
    try:
        return store.get(key)
    except MediaNotFound:
        raise NotFound("照片文件不存在", id=photo_id) from None


def read_photo(session: Session, actor: Actor, store: MediaStorage, key: str) -> bytes:
    """A stored photo by its content key, if the actor may see a photo row with that key
    (``photo_visible``: uploader, the farmer's own deliveries, or stock the actor may see)."""
    if not photo_visible(session, actor, key):
        raise NotFound("找不到该照片", key=key)
    return store.get(key)
