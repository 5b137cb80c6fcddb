"""Photos sent for the MIS: checked by their content (not by what the sender called them) and
re-encoded, so that what is kept carries the picture and nothing else (no EXIF, no GPS)."""

from __future__ import annotations

import base64
import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

#: The largest photo accepted, in bytes.
MAX_PHOTO_BYTES = 5 * 1024 * 1024
#: Each side, in pixels: big enough for a passport-style photo, small enough to decode safely.
MIN_SIDE = 16
MAX_SIDE = 6000
MAX_PIXELS = 24_000_000
#: The formats accepted, by Pillow's name, and how they are sent on.
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png"}


class PhotoRefused(ValueError):
    """The upload is not a photo we accept; the message says why, for the sender."""


@dataclass(frozen=True)
class CleanPhoto:
    content_type: str
    data: bytes
    width: int
    height: int

    @property
    def base64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")


def clean(data: bytes) -> CleanPhoto:
    """Check an upload and re-encode it without its metadata; PhotoRefused if it will not do."""
    if len(data) > MAX_PHOTO_BYTES:
        raise PhotoRefused(f"A photo may be at most {MAX_PHOTO_BYTES} bytes.")
    try:
        with warnings.catch_warnings():
            # A decompression bomb warning becomes an error: refuse it like any bad image.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as probe:
                kind = probe.format
                width, height = probe.size
                if kind not in FORMATS:
                    raise PhotoRefused("Send a JPEG or PNG image.")
                _check_size(width, height)
                probe.verify()
            with Image.open(io.BytesIO(data)) as image:
                image.load()
                out = io.BytesIO()
                if kind == "JPEG":
                    picture = image.convert("RGB") if image.mode not in ("RGB", "L") else image
                    # Only the pixels: no exif=, no icc_profile=, no comment.
                    picture.save(out, format="JPEG", quality=90)
                else:
                    picture = (
                        image
                        if image.mode in ("RGB", "RGBA", "L", "LA", "P")
                        else (image.convert("RGBA"))
                    )
                    picture.save(out, format="PNG", optimize=False)
    except PhotoRefused:
        raise
    except (
        UnidentifiedImageError,
        OSError,
        SyntaxError,
        ValueError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as problem:
        raise PhotoRefused("Send a JPEG or PNG image.") from problem
    return CleanPhoto(FORMATS[kind], out.getvalue(), width, height)


def _check_size(width: int, height: int) -> None:
    if (
        min(width, height) < MIN_SIDE
        or max(width, height) > MAX_SIDE
        or width * height > MAX_PIXELS
    ):
        raise PhotoRefused(
            f"A photo must be {MIN_SIDE} to {MAX_SIDE} pixels a side, at most"
            f" {MAX_PIXELS} pixels in all."
        )
