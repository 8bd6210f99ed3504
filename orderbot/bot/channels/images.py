"""Image size limits: shrink a PNG until it fits a platform's byte limit (WeCom robot: 2 MB)."""
from __future__ import annotations

import io


def shrink_png_to(png: bytes, limit: int) -> bytes:
    if len(png) <= limit:
        return png
    from PIL import Image

    img = Image.open(io.BytesIO(png))
    scale = 0.85
    while True:
        w, h = max(1, int(img.width * scale)), max(1, int(img.height * scale))
        buf = io.BytesIO()
        img.resize((w, h)).save(buf, format="PNG", optimize=True)
        if buf.tell() <= limit or w == 1:
            return buf.getvalue()
        scale *= 0.85
