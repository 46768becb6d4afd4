"""Draw the Case Desk application icon (PNG + ICO) with Pillow.

The generated files are committed, so a build never needs Pillow; re-run this script only
when the design changes: ``.venv/bin/python resources/make_icons.py``.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

HERE = Path(__file__).resolve().parent
SIZE = 256
SCALE = 4  # draw large, then downsample: smooth edges without an antialiasing API
ICO_SIZES = [(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)]

TEAL = (17, 120, 130, 255)
TEAL_DARK = (11, 84, 92, 255)
PAPER = (250, 250, 247, 255)
RED = (214, 55, 64, 255)


def draw(size: int = SIZE) -> Image.Image:
    """A case folder with a medical cross: readable at 16 px, calm at 256 px."""
    s = size * SCALE
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)

    def box(x0: float, y0: float, x1: float, y1: float) -> tuple[int, int, int, int]:
        return (round(x0 * s), round(y0 * s), round(x1 * s), round(y1 * s))

    # Background tile.
    d.rounded_rectangle(box(0.03, 0.03, 0.97, 0.97), radius=round(0.2 * s), fill=TEAL)
    # Folder tab and body.
    d.rounded_rectangle(box(0.16, 0.24, 0.46, 0.36), radius=round(0.04 * s), fill=TEAL_DARK)
    d.rounded_rectangle(box(0.14, 0.30, 0.86, 0.80), radius=round(0.06 * s), fill=TEAL_DARK)
    # A sheet of paper in the folder.
    d.rounded_rectangle(box(0.20, 0.34, 0.80, 0.76), radius=round(0.04 * s), fill=PAPER)
    # Medical cross on the sheet.
    cx, cy, arm, half = 0.50, 0.55, 0.15, 0.05
    d.rounded_rectangle(box(cx - half, cy - arm, cx + half, cy + arm), radius=round(0.015 * s), fill=RED)
    d.rounded_rectangle(box(cx - arm, cy - half, cx + arm, cy + half), radius=round(0.015 * s), fill=RED)
    return img.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    icon = draw()
    icon.save(HERE / "casedesk.png", optimize=True)
    icon.save(HERE / "casedesk.ico", sizes=ICO_SIZES)
    for name in ("casedesk.png", "casedesk.ico"):
        size = (HERE / name).stat().st_size
        if size > 100_000:
            raise SystemExit(f"{name} is {size} bytes; keep the icon under 100 KB")


if __name__ == "__main__":
    main()
