"""Word cloud of cancellation reasons: the `wordcloud` package lays the words out, we draw them.

wordcloud opens its font with Pillow at face 0, and face 0 of the Noto Sans CJK collection is the Japanese
one (different glyph forms for shared characters). So wordcloud only computes the layout (advance widths are
the same in every face) and the words are drawn here with the Simplified Chinese face. The layout runs at half
size and is drawn at full size, which is four times quicker at the same look.
"""

from __future__ import annotations

from collections.abc import Mapping

from orderbot.bot.charts._base import (
    MARGIN_PX,
    PALETTE,
    WIDTH_PX,
    clean,
    empty_chart,
    encode_png,
    header,
    header_px,
    new_figure,
    to_image,
)
from orderbot.bot.charts.fonts import cjk_font

MAX_WORDS = 40
_CLOUD_H = 640
_SCALE = 2
_SEED = 20240611  # fixed: the same reasons give the same picture


def word_cloud(title: str, frequencies: Mapping[str, int], *, subtitle: str | None = None) -> bytes:
    """Bigger words are more frequent; the 40 most frequent words are placed, horizontally for reading."""
    merged: dict[str, int] = {}
    for word, count in frequencies.items():
        label = clean(word, 16, placeholder="", face_only=True)
        if label and count > 0:
            merged[label] = merged.get(label, 0) + int(count)
    if not merged:
        return empty_chart(title, subtitle=subtitle)
    ranked = sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[:MAX_WORDS]

    from PIL import Image, ImageDraw, ImageFont
    from wordcloud import WordCloud

    font = cjk_font()
    width = WIDTH_PX - 2 * MARGIN_PX
    layout = (
        WordCloud(
            font_path=str(font.path),
            width=width // _SCALE,
            height=_CLOUD_H // _SCALE,
            margin=6,
            prefer_horizontal=1.0,
            random_state=_SEED,
            min_font_size=15,
            max_font_size=70,
            font_step=2,
            relative_scaling=0.6,
            background_color="white",
            max_words=MAX_WORDS,
            collocations=False,
        )
        .generate_from_frequencies(dict(ranked))
        .layout_
    )

    rank = {word: i for i, (word, _) in enumerate(ranked)}
    fonts: dict[int, ImageFont.FreeTypeFont] = {}
    placed = []
    for (word, _), size, (y, x), _orientation, _colour in layout:
        px_size = size * _SCALE
        if px_size not in fonts:
            fonts[px_size] = ImageFont.truetype(str(font.path), px_size, index=font.index)
        # "lt": the anchor wordcloud measured the free space with (its own drawing matches it exactly)
        left, top_, right, bottom = fonts[px_size].getbbox(word, anchor="lt")
        x, y = x * _SCALE, y * _SCALE
        placed.append((word, fonts[px_size], x, y, (x + left, y + top_, x + right, y + bottom)))
    if not placed:  # nothing fitted even at the smallest size
        return empty_chart(title, subtitle=subtitle)
    # wordcloud scatters few words anywhere on the canvas; centre what was placed.
    x0 = min(p[4][0] for p in placed)
    y0 = min(p[4][1] for p in placed)
    x1 = max(p[4][2] for p in placed)
    y1 = max(p[4][3] for p in placed)
    dx, dy = (width - (x1 - x0)) // 2 - x0, (_CLOUD_H - (y1 - y0)) // 2 - y0
    canvas = Image.new("RGB", (width, _CLOUD_H), "white")
    draw = ImageDraw.Draw(canvas)
    for word, face, x, y, _ in placed:
        i = rank[word]
        draw.text((x + dx, y + dy), word, font=face, anchor="lt", fill=PALETTE[i % 4] if i < 8 else PALETTE[4 + i % 4])

    top = header_px(subtitle)
    fig = new_figure(top + _CLOUD_H + 30)
    header(fig, title, subtitle)
    picture = to_image(fig)
    picture.paste(canvas, (MARGIN_PX, top))  # pixels as drawn: no resampling, unlike figimage (and quicker)
    return encode_png(picture)
