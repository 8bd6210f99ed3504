"""QR package labels, on SQLite and PostgreSQL: one label per package, QR read back by a real decoder (zxing-cpp),
check code, hazard marks, 100 × 150 mm PDF pages (read with pypdf), files, determinism.

What the hazard tests verify, honestly: the strings the renderer draws (`label_texts`, taken from the very calls
that put text on the image), that every glyph of them exists in the CJK font (so none prints as a box), and that
the pixels where the marks go are inked for a UN3481/UN3480 product and blank without one. There is no OCR: the
pixels are not read back as text.
"""

from __future__ import annotations

import io
from dataclasses import replace

import numpy as np
import pypdf
import pytest
import zxingcpp
from PIL import Image
from sqlalchemy import select, update

from orderbot.bot.charts.fonts import cjk_font
from orderbot.core.errors import OrderNotFound
from orderbot.core.models import Order, Package, Product
from orderbot.core.orders.schema import parse_order
from orderbot.core.orders.service import ingest_order
from orderbot.core.warehouse.labels import parse_label
from orderbot.printing.labels import (
    LABEL_MM,
    LabelData,
    LabelError,
    label_size_px,
    label_texts,
    order_labels,
    qr_box_px,
    qr_matrix,
    render_image,
    render_pdf,
    render_png,
    write_labels,
)

from tests.helpers import add_products, order_json

SECRET = "label-test-secret"
THREE_LINES = [{"sku": "EB-TWS-WHT", "qty": 1}, {"sku": "PB-20K-BLK", "qty": 2}, {"sku": "CASE-IP15-CLR", "qty": 3}]


async def _order(db, config, clock, **over):
    async with db.write() as s:
        await add_products(s, config, at=clock())
        await s.execute(update(Product).where(Product.sku == "CASE-IP15-CLR").values(fragile=True))
        await ingest_order(s, parse_order(order_json(**over)), source="webhook", config=config, now=clock())


async def _labels(db, ref="SO202602010001"):
    async with db.read() as s:
        return await order_labels(s, ref, secret=SECRET)


def _decode(image: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image.convert("L")) if r.format == zxingcpp.BarcodeFormat.QRCode]


def _png(blob: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(blob))
    image.load()
    return image


def _label(**over) -> LabelData:
    base = dict(
        order_no="SO202602010001",
        package_no=1,
        package_count=1,
        sku="EB-TWS-WHT",
        product_name="蓝牙耳机 白",
        batch_no="B260201",
        qty=1,
        text="OB1|SO202602010001|EB-TWS-WHT|B260201|1|00000000",
        dest_country="US",
    )
    base.update(over)
    return LabelData(**base)


def _ink(image: Image.Image, x0_mm, y0_mm, x1_mm, y1_mm, dpi=203) -> float:
    """Share of black dots in a rectangle given in millimetres."""
    px = lambda mm: round(mm * dpi / 25.4)  # noqa: E731
    region = np.asarray(image.convert("L").crop((px(x0_mm), px(y0_mm), px(x1_mm), px(y1_mm))))
    return float((region < 128).mean())


# --- data from the database ---------------------------------------------------------------------------------
async def test_one_label_per_package_with_k_of_n_and_valid_check_code(db, config, clock):
    await _order(db, config, clock, lines=THREE_LINES)
    labels = await _labels(db)
    assert [(lb.package_no, lb.package_count, lb.sku, lb.qty) for lb in labels] == [
        (1, 3, "EB-TWS-WHT", 1),
        (2, 3, "PB-20K-BLK", 2),
        (3, 3, "CASE-IP15-CLR", 3),
    ]
    for lb in labels:
        parsed = parse_label(lb.text, SECRET)
        assert (parsed.order_no, parsed.sku, parsed.batch_no, parsed.package_no) == (
            "SO202602010001",
            lb.sku,
            lb.batch_no,
            lb.package_no,
        )
        assert lb.batch_no == "B260201" and lb.dest_country == "US"
        assert lb.customs_grade == "C" and lb.customs_docs_pending  # 移动电源 makes the order grade C
    eb, pb, case = labels
    assert (eb.hazmat_class, eb.packing_instruction, eb.lithium, eb.cargo_aircraft_only) == (
        "UN3481",
        "PI 967",
        True,
        False,
    )
    assert (pb.hazmat_class, pb.cargo_aircraft_only) == ("UN3480", True)
    assert (case.hazmat_class, case.fragile, eb.fragile) == (None, True, False)
    assert eb.product_name == "蓝牙耳机 白" and eb.tracking_no is None


async def test_labels_found_by_channel_order_id_and_tracking_number(db, config, clock):
    await _order(db, config, clock, lines=THREE_LINES)
    async with db.write() as s:
        await s.execute(update(Order).values(tracking_no="YT123456789CN"))
        await s.execute(update(Package).where(Package.package_no == 2).values(tracking_no="YT000000002CN"))
    by_channel = await _labels(db, "#1001")
    by_tracking = await _labels(db, "YT123456789CN")
    assert [lb.text for lb in by_channel] == [lb.text for lb in by_tracking]
    assert [lb.tracking_no for lb in by_tracking] == ["YT123456789CN", "YT000000002CN", "YT123456789CN"]


async def test_unknown_order_raises_order_not_found(db, config, clock):
    await _order(db, config, clock)
    with pytest.raises(OrderNotFound):
        await _labels(db, "SO209912319999")


async def test_order_without_packages_or_secret_is_refused(db, config, clock):
    await _order(db, config, clock, status="pending")  # not paid: not released, so no packages yet
    with pytest.raises(LabelError, match="还没有包裹"):
        await _labels(db)
    async with db.read() as s:
        with pytest.raises(LabelError, match="ORDERBOT_LABEL_SECRET"):
            await order_labels(s, "SO202602010001", secret="")


# --- the QR code --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dpi", [203, 300])
async def test_qr_decodes_to_exactly_the_label_text(db, config, clock, dpi):
    await _order(db, config, clock, lines=THREE_LINES)
    for lb in await _labels(db):
        image = _png(render_png(lb, config.hazmat, dpi=dpi))
        assert image.mode == "1" and image.size == label_size_px(dpi)
        assert image.info["dpi"] == pytest.approx((dpi, dpi), abs=0.01)  # PNG stores dots per metre
        assert _decode(image) == [lb.text]
        assert parse_label(_decode(image)[0], SECRET).package_no == lb.package_no
        # a phone at arm's length sees the label small and blurred: still one clean read at ~1/3.3 size
        small = image.convert("L").resize((240, 360), Image.Resampling.BILINEAR)
        assert _decode(small) == [lb.text]


def test_printed_modules_are_segnos_matrix_with_a_quiet_zone(config):
    """Independent of any decoder: sample the centre of every module and compare with segno's matrix."""
    lb = _label()
    for dpi in (203, 300):
        pixels = np.asarray(render_image(lb, config.hazmat, dpi=dpi).convert("L")) < 128
        left, top, scale, n = qr_box_px(lb, dpi)
        matrix = np.array(qr_matrix(lb.text))
        assert matrix.shape == (n, n)
        sampled = pixels[top + scale // 2 : top + n * scale : scale, left + scale // 2 : left + n * scale : scale]
        assert (sampled == matrix).all()
        quiet = 4 * scale
        ring = pixels[top - quiet : top + n * scale + quiet, left - quiet : left + n * scale + quiet].copy()
        ring[quiet:-quiet, quiet:-quiet] = False
        assert not ring.any()  # four white modules all round
        assert scale * 25.4 / dpi >= 1.2  # modules of at least 1.2 mm: easy for a phone camera


# --- hazard marks -------------------------------------------------------------------------------------------
def test_lithium_box_cao_fragile_and_customs_marks_are_drawn(config):
    un3481 = _label(
        hazmat_class="UN3481", packing_instruction="PI 967", fragile=True, customs_grade="B", customs_docs_pending=True
    )
    texts = label_texts(un3481, config.hazmat)
    assert "UN3481 · PI 967" in texts and "锂离子电池" in texts
    assert "须贴：锂电池标记 UN3481" in texts  # the config's mark
    assert "易碎 FRAGILE" in texts and "报关资料待补 B类" in texts
    assert not any("CAO" in t for t in texts)

    un3480 = _label(sku="PB-20K-BLK", hazmat_class="UN3480", packing_instruction=None)
    texts = label_texts(un3480, config.hazmat)
    assert "UN3480 · PI 965" in texts  # from the config when the product names none
    assert "仅限货机 CAO" in texts and "易碎 FRAGILE" not in texts
    assert "UN3090 · PI 968" in label_texts(_label(hazmat_class="UN3090"), {})  # IATA default without config
    assert "仅限货机 CAO" in label_texts(_label(hazmat_class="UN3090"), {})
    assert "UN3091 · PI 970" in label_texts(_label(hazmat_class="un 3091"), config.hazmat)

    done = label_texts(_label(customs_grade="C"), config.hazmat)
    assert "报关 C类 资料已齐" in done and not any("待补" in t for t in done)
    assert not any("报关" in t for t in label_texts(_label(customs_grade="A"), config.hazmat))
    assert "海关扣留 暂缓发货" in label_texts(_label(customs_hold=True), config.hazmat)

    other = label_texts(_label(hazmat_class="UN1266", packing_instruction="PI Y341"), config.hazmat)
    assert "UN1266 · PI Y341" in other and "危险品 DANGEROUS GOODS" in other and "锂离子电池" not in other


def test_every_glyph_exists_in_the_font(config):
    """Pillow draws a missing glyph as a box without complaint: check the CJK face has every character."""
    face = cjk_font().face_codepoints
    worst = _label(
        hazmat_class="UN3480",
        fragile=True,
        customs_grade="C",
        customs_docs_pending=True,
        customs_hold=True,
        tracking_no="YT123456789CN",
    )
    for lb in (worst, _label(hazmat_class="UN1266"), _label(hazmat_class="UN3091", customs_grade="B")):
        missing = {ch for t in label_texts(lb, config.hazmat) for ch in t if ord(ch) not in face}
        assert not missing


def test_hazard_pixels_are_inked_only_when_there_is_a_hazard(config):
    """The lithium box (left of the hazard area) and the CAO badge (black, top right) are really on the image."""
    plain = render_image(_label(sku="CASE-IP15-CLR", hazmat_class=None), config.hazmat)
    ion = render_image(_label(hazmat_class="UN3481", fragile=True), config.hazmat)
    cao = render_image(_label(hazmat_class="UN3480", fragile=True), config.hazmat)
    area = (4, 121, 59, 142)  # mm: inside the lithium box
    assert _ink(plain, *area) == 0.0
    assert _ink(plain, 3, 120, 97, 147) == 0.0  # nothing at all in the hazard area of a harmless product
    assert _ink(ion, *area) > 0.15 and _ink(cao, *area) > 0.15
    badge = (64, 120, 96, 126)  # mm: the first badge: inverted (white on black) for CAO, outlined for fragile
    assert _ink(cao, *badge) > 0.6 and 0.05 < _ink(ion, *badge) < 0.4


def test_long_fields_are_truncated_to_fit(config):
    lb = _label(product_name="20000mAh 移动电源 黑 " + "超长的名字" * 20, sku="SKU-" + "X" * 40)
    texts = label_texts(lb, config.hazmat)
    assert any(t.startswith("20000mAh 移动电源") and t.endswith("…") for t in texts)
    assert _decode(render_image(lb, config.hazmat)) == [lb.text]


# --- files --------------------------------------------------------------------------------------------------
async def test_pdf_has_one_page_per_package_at_100_by_150_mm(db, config, clock):
    await _order(db, config, clock, lines=THREE_LINES)
    labels = await _labels(db)
    reader = pypdf.PdfReader(io.BytesIO(render_pdf(labels, config.hazmat)))
    assert len(reader.pages) == 3
    for page, lb in zip(reader.pages, labels):
        width_mm = float(page.mediabox.width) / 72 * 25.4
        height_mm = float(page.mediabox.height) / 72 * 25.4
        assert (width_mm, height_mm) == (pytest.approx(LABEL_MM[0], abs=0.01), pytest.approx(LABEL_MM[1], abs=0.01))
        (image,) = page.images
        assert _decode(image.image) == [lb.text]  # page k carries package k's label
    assert "CreationDate" not in str(reader.metadata)


async def test_output_is_deterministic(db, config, clock):
    await _order(db, config, clock, lines=THREE_LINES)
    labels = await _labels(db)
    assert [lb.text for lb in labels] == [lb.text for lb in await _labels(db)]
    assert render_png(labels[0], config.hazmat) == render_png(replace(labels[0]), config.hazmat)
    assert render_pdf(labels, config.hazmat) == render_pdf(list(labels), config.hazmat)
    assert render_png(labels[0], config.hazmat) != render_png(labels[1], config.hazmat)


async def test_write_labels_png_pdf_and_single_file(db, config, clock, tmp_path):
    await _order(db, config, clock, lines=THREE_LINES)
    async with db.read() as s:
        pngs = await write_labels(s, "SO202602010001", secret=SECRET, config=config, out=tmp_path / "out", fmt="png")
        pdf = await write_labels(s, "SO202602010001", secret=SECRET, config=config, out=tmp_path, fmt="pdf")
        named = await write_labels(s, "SO202602010001", secret=SECRET, config=config, out=tmp_path / "x.pdf")
        several = await write_labels(s, "SO202602010001", secret=SECRET, config=config, out=tmp_path / "l.png")
    assert [p.name for p in pngs] == [f"SO202602010001-{k}of3.png" for k in (1, 2, 3)]
    assert all(p.parent == tmp_path / "out" for p in pngs)
    assert [_decode(Image.open(p)) for p in pngs] == [[lb.text] for lb in await _labels(db)]
    assert pdf == [tmp_path / "SO202602010001.pdf"] and named == [tmp_path / "x.pdf"]
    assert len(pypdf.PdfReader(pdf[0]).pages) == 3
    assert [p.name for p in several] == ["l-1of3.png", "l-2of3.png", "l-3of3.png"]
    assert not list(tmp_path.rglob("*.part"))

    async with db.write() as s:
        await ingest_order(
            s,
            parse_order(order_json("SO202602010002", channel_order_id="#1002")),
            source="webhook",
            config=config,
            now=clock(),
        )
    async with db.read() as s:
        single = await write_labels(
            s, "SO202602010002", secret=SECRET, config=config, out=tmp_path / "one.png", fmt="png"
        )
        with pytest.raises(LabelError):
            await write_labels(s, "SO202602010002", secret=SECRET, config=config, out=None, fmt="gif")
    assert single == [tmp_path / "one.png"]
    assert _decode(Image.open(single[0]))[0].startswith("OB1|SO202602010002|PB-20K-BLK|B260201|1|")
    async with db.read() as s:
        packages = (await s.execute(select(Package.package_no))).scalars().all()
    assert sorted(packages) == [1, 1, 2, 3]
