"""Reading one image file: upright 8-bit RGB, or a DataError that names the file."""

from __future__ import annotations

import os
import re
import warnings

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

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


def open_image(path: str | os.PathLike) -> Image.Image:
    """Image.open, refusing with the file's name any image above PIL's pixel limit.

    PIL only warns between Image.MAX_IMAGE_PIXELS (89 megapixels by default) and twice that,
    and above it raises a DecompressionBombError that names no file. The course's policy is
    one rule: above the limit, refuse (dataset check, training and predict alike). A model
    that sees 40-224 pixels gains nothing from 100 megapixels, and a decompression bomb (a
    small file that expands to gigabytes) looks just like such a photo.
    """
    limit = Image.MAX_IMAGE_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(path)
    except Image.DecompressionBombError as error:
        found = re.search(r"\((\d+) pixels\)", str(error))
        size = f"{int(found.group(1)):,} pixels" if found else "over twice the limit"
        raise DataError(_too_big(path, size, limit)) from error
    if limit is not None and image.width * image.height > limit:
        size = f"{image.width}x{image.height} = {image.width * image.height:,} pixels"
        image.close()
        raise DataError(_too_big(path, size, limit))
    return image


def _too_big(path, size: str, limit: int | None) -> str:
    return (f"image {str(path)!r} is too large ({size}): more than PIL's limit of "
            f"{limit or 0:,} pixels (PIL.Image.MAX_IMAGE_PIXELS). Shrink it (e.g. to 4000 "
            "pixels on the long side), or raise the limit if you trust the file.")


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Open an image file as upright RGB, or raise DataError naming the file."""
    try:
        with open_image(path) as image:
            image.load()
            return to_rgb(image)
    except _READ_ERRORS as error:
        if isinstance(error, DataError):
            raise
        raise DataError(f"cannot read image {str(path)!r}: {error}. "
                        "Delete or replace the file, then run the cell again.") from error
