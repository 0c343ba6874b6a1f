"""Bar charts as inline SVG, drawn on the server: no chart library and no script, so they
show under the strict CSP, print, and read the same in every browser. Each chart comes with
the same numbers in a table for screen readers and for reading exact values."""

from dataclasses import dataclass

WIDTH = 720
HEIGHT = 220
LEFT = 40
BOTTOM = 28
TOP = 10


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    css: str
    label: str


@dataclass(frozen=True)
class Tick:
    x: float
    label: str


@dataclass(frozen=True)
class Chart:
    bars: list[Bar]
    ticks: list[Tick]
    top_value: int
    # Nothing counted yet: the page says so instead of drawing empty axes.
    empty: bool = False
    width: int = WIDTH
    height: int = HEIGHT
    baseline: float = HEIGHT - BOTTOM
    left: int = LEFT


def grouped_bars(
    labels: list[str], series: list[tuple[str, str, list[int]]], *, every: int = 1
) -> Chart:
    """Bars side by side for each label; `series` is (css class, name, values). Every
    `every`-th label is written under the axis."""
    top_value = max([max(values, default=0) for _css, _name, values in series] + [1])
    plot_width = WIDTH - LEFT - 10
    plot_height = HEIGHT - BOTTOM - TOP
    group = plot_width / max(len(labels), 1)
    bar = group * 0.8 / max(len(series), 1)
    bars = []
    for i, label in enumerate(labels):
        for j, (css, name, values) in enumerate(series):
            value = values[i]
            height = plot_height * value / top_value
            bars.append(
                Bar(
                    x=round(LEFT + i * group + group * 0.1 + j * bar, 1),
                    y=round(HEIGHT - BOTTOM - height, 1),
                    width=round(bar, 1),
                    height=round(height, 1),
                    css=css,
                    label=f"{label}: {name} {value}",
                )
            )
    ticks = [
        Tick(x=round(LEFT + i * group + group / 2, 1), label=label)
        for i, label in enumerate(labels)
        if i % every == 0
    ]
    empty = not any(value for _css, _name, values in series for value in values)
    return Chart(bars=bars, ticks=ticks, top_value=top_value, empty=empty)
