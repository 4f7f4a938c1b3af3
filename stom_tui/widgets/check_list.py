"""A :class:`~textual.widgets.SelectionList` whose ticks are drawn, not only coloured.

Textual's selection list draws the same ``X`` for a chosen and an unchosen option and tells them
apart by colour alone, which a monochrome terminal or a colour-blind user cannot read. Here an
unchosen option's box is empty: ``▐X▌ KRW-BTC`` is chosen, ``▐ ▌ KRW-ETH`` is not.
"""

from __future__ import annotations

from rich.segment import Segment
from textual.strip import Strip
from textual.widgets import SelectionList
from textual.widgets.option_list import OptionDoesNotExist

UNCHECKED = " "
"""What an unchosen option's box holds."""


class CheckList(SelectionList[str]):
    """A selection list of text values with visible ticks (see the module docstring)."""

    def render_line(self, y: int) -> Strip:
        strip = super().render_line(y)
        try:
            option = self.get_option_at_index(self.scroll_offset.y + y)
        except OptionDoesNotExist:
            return strip
        if option.value in self.selected:
            return strip
        segments = list(strip)
        if len(segments) < 2:
            return strip
        inner = segments[1]
        segments[1] = Segment(UNCHECKED * len(inner.text), inner.style, inner.control)
        return Strip(segments, strip.cell_length)
