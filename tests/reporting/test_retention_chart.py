"""The report's retention chart: readable percent ticks, and only points pooling enough persons."""

import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg

from reporting.daily import retention_figure


def _y_tick_labels(fig) -> list[str]:
    FigureCanvasAgg(fig).draw()
    (ax,) = fig.axes
    low, high = ax.get_ylim()
    ticks = [t for t in ax.get_yticks() if low <= t <= high]
    return [ax.yaxis.get_major_formatter()(t, i) for i, t in enumerate(ticks)]


def test_percent_ticks_are_unique_for_a_curve_below_five_percent():
    curve = pd.DataFrame(
        {
            "day_n": [1, 2, 3, 7, 14, 30] * 2,
            "cohort_channel": ["store"] * 6 + ["wecom"] * 6,
            "retention": [
                0.042,
                0.031,
                0.024,
                0.017,
                0.011,
                0.006,
                0.038,
                0.027,
                0.02,
                0.013,
                0.009,
                0.004,
            ],
            "cohort_size": [500] * 12,
        }
    )
    labels = _y_tick_labels(retention_figure(curve))
    assert len(labels) >= 4
    assert len(set(labels)) == len(labels), labels
    assert all(label.endswith("%") for label in labels)


def test_percent_ticks_stay_whole_numbers_on_a_wide_range():
    curve = pd.DataFrame(
        {
            "day_n": [1, 2, 30],
            "cohort_channel": ["store"] * 3,
            "retention": [0.6, 0.4, 0.1],
            "cohort_size": [500] * 3,
        }
    )
    labels = _y_tick_labels(retention_figure(curve))
    assert len(set(labels)) == len(labels) and "20%" in labels and "." not in "".join(labels)
