"""Reading one image file: upright 8-bit RGB, or a DataError that names the file."""

from __future__ import annotations

import os
import re
import warnings

import numpy as np
from PIL import Image, ImageOps, JpegImagePlugin, UnidentifiedImageError

from ..i18n import _

# Lower-case file endings PIL reads; the same set as torchvision's ImageFolder.
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".ppm", ".bmp", ".pgm", ".tif", ".tiff", ".webp",
                    ".gif")


class DataError(ValueError):
    """The data folder or an image in it is not what the course expects."""



_EXIF_ORIENTATION = 0x0112


def to_rgb(image: Image.Image) -> Image.Image:
    """Any PIL image (grayscale, 16-bit, float, palette, RGBA, CMYK) as 8-bit RGB, upright.

    A phone stores a photo as the sensor saw it plus an EXIF "orientation" tag; viewers
    rotate it, PIL does not: without exif_transpose a portrait photo reaches the model sideways.
    """
    if image.getexif().get(_EXIF_ORIENTATION, 1) != 1:
        image = ImageOps.exif_transpose(image)
    if image.mode == "RGB":
        return image
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        # 16-bit/32-bit pixels: convert("RGB") would clip everything above 255 to white.
        array = np.nan_to_num(np.asarray(image, dtype=np.float64))
        if image.mode.startswith("I;16") or array.max() > 255:
            top = 65535.0
        elif image.mode == "F" and array.min() >= 0 and array.max() <= 1:
            top = 1.0  # float pixels in [0, 1] (scientific TIFFs); /255 would make them black
        else:
            top = 255.0
        image = Image.fromarray((array / top * 255).clip(0, 255).astype(np.uint8), "L")
        return image.convert("RGB")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        # Transparent pixels have arbitrary colours underneath; show them on white.
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")  # L, 1, CMYK, YCbCr, LAB, HSV


_READ_ERRORS = (OSError, UnidentifiedImageError, ValueError, SyntaxError)


def open_image(path: str | os.PathLike, draft: int | None = None) -> Image.Image:
    """Image.open, refusing with the file's name any image above PIL's pixel limit.

    PIL only warns between Image.MAX_IMAGE_PIXELS (89 megapixels by default) and twice that,
    and above it raises a DecompressionBombError that names no file. The course's policy is
    one rule: the pixels *decoded* must stay within the limit (dataset check, training and
    predict alike). A model that sees 40-224 pixels gains nothing from 100 megapixels, and a
    decompression bomb (a small file that expands to gigabytes) looks just like such a photo.

    `draft`: the shorter side, in pixels, that the caller needs. A JPEG is then decoded at 1/2,
    1/4 or 1/8 of its size directly (JPEG draft mode), and the limit applies to that reduced
    image: a 100-megapixel phone photo decodes as 1.6 megapixels and loads. A file that cannot
    be drafted (PNG, TIFF, WebP, ...) is decoded whole and refused above the limit.
    """
    return _open(path, draft)[0]


def _open(path, draft: int | None) -> tuple[Image.Image, tuple | None, tuple[int, int]]:
    """open_image, the box of the original image within the drafted pixels (None when not
    drafted) and the original size."""
    limit = Image.MAX_IMAGE_PIXELS
    box = None
    if draft is not None and _is_jpeg(path):
        # Image.open refuses a JPEG over twice the limit before it can be drafted; the JPEG
        # reader alone reads only the header. The limit is checked on the drafted size below.
        image = JpegImagePlugin.jpeg_factory(os.fspath(path))
        original = image.size
        box = _draft(image, draft)
    else:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                image = Image.open(path)
        except Image.DecompressionBombError as error:
            found = re.search(r"\((\d+) pixels\)", str(error))
            size = (_("{pixels:,} pixels").format(pixels=int(found.group(1))) if found
                    else _("over twice the limit"))
            raise DataError(_too_big(path, size, limit)) from error
        original = image.size
    if limit is not None and image.width * image.height > limit:
        size = _("{width}x{height} = {pixels:,} pixels").format(
            width=image.width, height=image.height, pixels=image.width * image.height)
        image.close()
        raise DataError(_too_big(path, size, limit))
    return image, box, original


# How much larger than the needed side a JPEG is decoded before the final resize: at exactly
# the needed side, the DCT's own 8x8 averaging shows at sharp edges (measured on the embedded
# shapes at 40 px against a full decode: 99th percentile 7 of 255 levels, 3 with this gap of 2).
DRAFT_GAP = 2


def _is_jpeg(path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(3) == b"\xff\xd8\xff"
    except OSError:
        return False  # Image.open reports it, with the file's name


def _draft(image: Image.Image, side: int) -> tuple[float, float, float, float] | None:
    """Ask the JPEG decoder for the smallest power-of-two reduction whose shorter side is at
    least DRAFT_GAP x `side`; return the box of the original within the decoded pixels."""
    w, h = image.size
    short = min(w, h)
    wanted = DRAFT_GAP * side
    if short < 2 * wanted:  # no reduction possible: decode whole
        return None
    # "RGB" changes no mode: grayscale stays L, CMYK stays CMYK, for to_rgb to convert
    result = image.draft("RGB", (-(-w * wanted // short), -(-h * wanted // short)))
    return None if result is None else result[1]


def _too_big(path, size: str, limit: int | None) -> str:
    return _("image {path!r} is too large ({size}): more than PIL's limit of {limit:,} pixels "
             "(PIL.Image.MAX_IMAGE_PIXELS). Shrink it (e.g. to 4000 pixels on the long side), or "
             "raise the limit if you trust the file.").format(path=str(path), size=size,
                                                                 limit=limit or 0)


def load_rgb(path: str | os.PathLike, size: int | None = None) -> Image.Image:
    """Open an image file as upright RGB, or raise DataError naming the file.

    `size`: decode at the size training needs: the shorter side becomes `size` pixels (never
    enlarged), by JPEG draft mode (see `open_image`) and then the same antialiased bilinear
    resize as torchvision's Resize, which then has nothing left to do. Without draft mode the
    result is exactly torchvision's `Resize(size)` of the full image; with it, it differs by
    less than the resize's own rounding at sharp edges (tests/test_decoded.py measures it).
    """
    try:
        image, box, original = _open(path, size)
        with image:
            orientation = image.getexif().get(_EXIF_ORIENTATION, 1)
            stored = image.size  # the drafted size
            image.load()
            picture = to_rgb(image)
    except _READ_ERRORS as error:
        if isinstance(error, DataError):
            raise
        raise DataError(_("cannot read image {path!r}: {error}. Delete or replace the file, "
                          "then run the cell again.").format(path=str(path), error=error)
                        ) from error
    if size is None:
        return picture
    if box is None:
        return shrink(picture, size)
    if orientation in _TURNED:
        original = original[::-1]
    return shrink(picture, size, _upright_box(box, stored, orientation), original)


def shrink(image: Image.Image, side: int, box=None, original: tuple[int, int] | None = None,
           ) -> Image.Image:
    """The image with its shorter side `side` pixels, as torchvision's Resize(side) computes it
    (the same output size, from the `original` size when `image` is a drafted copy of it, and
    the same antialiased bilinear filter); returned as it is when that side is already `side`
    or less (never enlarged: the transforms enlarge exactly as before)."""
    w, h = original or image.size
    if min(w, h) <= side:
        return image
    new_h, new_w = _resized_size(h, w, side)
    return image.resize((new_w, new_h), Image.Resampling.BILINEAR, box=box)


def _resized_size(h: int, w: int, side: int) -> tuple[int, int]:
    """torchvision's `_compute_resized_output_size` for an int size (no max_size)."""
    short, long = (w, h) if w <= h else (h, w)
    new_short, new_long = side, int(side * long / short)
    return (new_short, new_long) if w > h else (new_long, new_short)  # (height, width)


# EXIF orientation -> how a point (x, y) of the stored image of size (W, H) moves when
# ImageOps.exif_transpose makes it upright (2 mirrors, 3 turns 180 degrees, 6 and 8 turn 90).
_UPRIGHT = {
    2: lambda x, y, W, H: (W - x, y),
    3: lambda x, y, W, H: (W - x, H - y),
    4: lambda x, y, W, H: (x, H - y),
    5: lambda x, y, W, H: (y, x),
    6: lambda x, y, W, H: (H - y, x),
    7: lambda x, y, W, H: (H - y, W - x),
    8: lambda x, y, W, H: (y, W - x),
}


_TURNED = (5, 6, 7, 8)  # width and height swap


def _upright_box(box, stored: tuple[int, int], orientation: int):
    """The draft box (in the stored image) where it lies once the image is upright."""
    if box is None or orientation not in _UPRIGHT:
        return box
    move = _UPRIGHT[orientation]
    (x0, y0), (x1, y1) = (move(x, y, *stored) for x, y in ((box[0], box[1]), (box[2], box[3])))
    return (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))
