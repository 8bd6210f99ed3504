"""Keep a PNG under a platform's byte limit (WeCom robots refuse images over 2 MB); the chart renderer uses it too."""

from __future__ import annotations

import io
import math

from PIL import Image

_MIN_SIDE = 64


def shrink_png(png: bytes, max_bytes: int) -> bytes:
    """Return `png` unchanged when it fits, else a smaller PNG of the same picture.

    First a 256-colour palette (charts have few colours, so this alone usually divides the size by three
    without visible change), then step-wise downscaling. Deterministic. Raises `ValueError` when even a
    64 px picture would not fit.
    """
    if len(png) <= max_bytes:
        return png
    with Image.open(io.BytesIO(png)) as src:
        src.load()
        image = _flatten(src)
    scale = 1.0
    while True:
        width, height = (max(1, round(side * scale)) for side in image.size)
        if min(width, height) < _MIN_SIDE and scale < 1.0:
            raise ValueError(f"cannot fit a {image.width}x{image.height} picture into {max_bytes} bytes")
        step = image if scale == 1.0 else image.resize((width, height), Image.Resampling.LANCZOS)
        out = _encode(step.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE))
        if len(out) <= max_bytes:
            return out
        # PNG size grows roughly with the pixel count; aim a little below the limit.
        scale *= min(0.9, math.sqrt(max_bytes / len(out)) * 0.95)


def _flatten(image: Image.Image) -> Image.Image:
    """RGB on white: charts are opaque, and a palette without alpha compresses best."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        base = Image.new("RGB", rgba.size, "white")
        base.paste(rgba, mask=rgba.getchannel("A"))
        return base
    return image.convert("RGB")


def _encode(image: Image.Image) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format="PNG", optimize=True)
    return buf.getvalue()
