"""Small renderers shared by the screens: a slice in half-block characters, text progress bars."""

from __future__ import annotations

__all__ = ["halfblocks", "bar"]

from typing import Any

from rich.style import Style
from rich.text import Text


def halfblocks(image: Any) -> Text:
    """A grey ``uint8`` image as rich text: each character ``▀`` shows two pixel rows (the upper
    one as its foreground colour, the lower one as its background)."""
    rows = len(image)
    text = Text(no_wrap=True, overflow="crop")
    cache: dict[tuple[int, int], Style] = {}
    for y in range(0, rows, 2):
        top = image[y]
        bottom = image[y + 1] if y + 1 < rows else None
        for x in range(len(top)):
            t = int(top[x])
            b = int(bottom[x]) if bottom is not None else 0
            style = cache.get((t, b))
            if style is None:
                style = cache[(t, b)] = Style.parse(f"rgb({t},{t},{t}) on rgb({b},{b},{b})")
            text.append("▀", style)
        if y + 2 < rows:
            text.append("\n")
    return text


def bar(done: int, total: int, width: int = 12, *, percent: bool = False) -> str:
    """``█████░░░░░░░ 5/12`` (or ``... 42 %``; an empty bar when *total* is 0)."""
    filled = round(width * done / total) if total else 0
    filled = max(0, min(width, filled))
    figure = (f"{100 * done // total:3d} %" if total else "  - %") if percent else f"{done}/{total}"
    return "█" * filled + "░" * (width - filled) + " " + figure
