"""A backtest report as one self-contained HTML file: summary table, equity and drawdown curves,
and Monte Carlo histograms, drawn as inline SVG (no script, no external file, no dependency).

PNG export is not offered: every light option needs a rasterizer (cairo, a browser, matplotlib);
the HTML opens in any browser, which can print it to PDF.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

import numpy as np

from engine.backtest.request import BacktestSummary
from engine.optimize.charts import drawdown_series
from engine.optimize.montecarlo import MonteCarloResult

WIDTH, HEIGHT, PAD = 760, 220, 36
STYLE = """body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:820px}
table{border-collapse:collapse}td,th{padding:2px 12px;text-align:left;border-bottom:1px solid #ddd}
svg{background:#fafafa;border:1px solid #ddd;margin:0.5em 0}h2{margin-top:1.5em}"""


def line_svg(values: Sequence[float] | np.ndarray, *, color: str, fill: bool = False) -> str:
    """An SVG polyline of ``values`` scaled into the chart box, with min and max labels."""
    data = np.asarray(values, dtype=np.float64)
    if len(data) < 2:
        return "<p>(not enough points to draw)</p>"
    low, high = float(data.min()), float(data.max())
    span = high - low or 1.0
    xs = PAD + np.arange(len(data)) / (len(data) - 1) * (WIDTH - 2 * PAD)
    ys = HEIGHT - PAD - (data - low) / span * (HEIGHT - 2 * PAD)
    points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
    shape = (
        f'<polygon points="{PAD},{HEIGHT - PAD} {points} {WIDTH - PAD},{HEIGHT - PAD}" '
        f'fill="{color}" fill-opacity="0.25" stroke="{color}"/>'
        if fill
        else f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="1.5"/>'
    )
    return _frame(shape, _label(high), _label(low))


def histogram_svg(values: Sequence[float] | np.ndarray, *, bins: int = 30, color: str) -> str:
    """Vertical bars of a histogram, with the first and last edges labelled."""
    data = np.asarray(values, dtype=np.float64)
    if not len(data):
        return "<p>(no data)</p>"
    counts, edges = np.histogram(data, bins=bins)
    top = int(counts.max()) or 1
    step = (WIDTH - 2 * PAD) / len(counts)
    bars = []
    for number, count in enumerate(counts):
        height = count / top * (HEIGHT - 2 * PAD)
        bars.append(
            f'<rect x="{PAD + number * step:.1f}" y="{HEIGHT - PAD - height:.1f}" '
            f'width="{max(step - 1, 1):.1f}" height="{height:.1f}" fill="{color}">'
            f"<title>{_label(edges[number])} .. {_label(edges[number + 1])}: {count}</title>"
            "</rect>"
        )
    axis = (
        f'<text x="{PAD}" y="{HEIGHT - 10}" font-size="11">{_label(edges[0])}</text>'
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 10}" font-size="11" text-anchor="end">'
        f"{_label(edges[-1])}</text>"
    )
    return _frame("".join(bars) + axis, str(top), "0")


def render_report(
    summary: BacktestSummary,
    equity: Sequence[float] | np.ndarray,
    montecarlo: MonteCarloResult | None = None,
) -> str:
    """The whole HTML document."""
    metrics, stats = summary.metrics, summary.trade_stats
    rows = [
        ("Strategy", f"{summary.strategy} ({summary.strategy_file})"),
        ("Parameters", ", ".join(f"{k}={v}" for k, v in summary.params.items())),
        ("Instruments", ", ".join(summary.instruments)),
        ("Initial equity", f"{summary.initial_equity} {summary.currency}"),
        ("Final equity", f"{summary.final_equity} {summary.currency}"),
        ("PnL (after fees)", f"{summary.pnl} {summary.currency}"),
        ("Fees", f"{summary.fees} {summary.currency}"),
        ("Total return", f"{metrics.total_return:.4%}"),
        ("Sharpe", _optional(metrics.sharpe)),
        ("Max drawdown", f"{metrics.max_drawdown:.4%}"),
        ("Round trips", str(stats.trades)),
        ("Win rate", "n/a" if stats.win_rate is None else f"{stats.win_rate:.2%}"),
        ("Profit factor", _optional(stats.profit_factor)),
    ]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'>",
        f"<title>STOM report {escape(summary.id)}</title><style>{STYLE}</style></head><body>",
        f"<h1>Backtest {escape(summary.id)}</h1><table>",
        *(f"<tr><th>{escape(k)}</th><td>{escape(v)}</td></tr>" for k, v in rows),
        "</table><h2>Equity</h2>",
        line_svg(equity, color="#1f77b4"),
        "<h2>Drawdown (fraction of the peak)</h2>",
        line_svg(-drawdown_series(equity), color="#d62728", fill=True),
    ]
    if montecarlo is not None:
        mc = montecarlo.summary
        parts += [
            f"<h2>Monte Carlo: {mc.runs:,} runs, {escape(mc.method)}, seed {mc.seed}</h2>",
            "<table><tr><th></th><th>5 %</th><th>median</th><th>95 %</th></tr>",
            _interval_row(
                "Final equity",
                mc.final_equity.p5,
                mc.final_equity.p50,
                mc.final_equity.p95,
                "{:,.0f}",
            ),
            _interval_row(
                "Max drawdown",
                mc.max_drawdown.p5,
                mc.max_drawdown.p50,
                mc.max_drawdown.p95,
                "{:.2%}",
            ),
            f"<tr><th>Probability of ruin</th><td colspan='3'>{mc.probability_of_ruin:.2%} "
            f"(equity at or below {mc.ruin_fraction:.0%} of the start)</td></tr></table>",
            "<h3>Final equity</h3>",
            histogram_svg(montecarlo.final_equity, color="#2ca02c"),
            "<h3>Maximum drawdown</h3>",
            histogram_svg(montecarlo.max_drawdown, color="#d62728"),
        ]
    parts.append("</body></html>")
    return "\n".join(parts)


def _frame(body: str, top_label: str, bottom_label: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}">{body}'
        f'<text x="4" y="{PAD}" font-size="11">{escape(top_label)}</text>'
        f'<text x="4" y="{HEIGHT - PAD}" font-size="11">{escape(bottom_label)}</text></svg>'
    )


def _interval_row(name: str, low: float, mid: float, high: float, fmt: str) -> str:
    cells = "".join(f"<td>{fmt.format(v)}</td>" for v in (low, mid, high))
    return f"<tr><th>{escape(name)}</th>{cells}</tr>"


def _label(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 1_000 else f"{value:,.4g}"


def _optional(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"
