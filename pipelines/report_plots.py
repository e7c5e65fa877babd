"""The report's pictures: inline PNG images made with matplotlib (no network, no files) and
the index's sparkline points. Numbers in, base64 PNG out; nothing from the logs is drawn
as text except through matplotlib's own rendering of labels this module writes."""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd

from detector.aggregate import DAY, HOURS


def _axes(figsize: tuple[float, float]):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)


def _finish(fig, ax, *, xlabel: str, ylabel: str | None = None, legend: dict | None = None, grid: dict | None = None) -> str:
    """Label, legend and grid the axes, and the figure as base64 PNG (the figure is closed)."""
    import matplotlib.pyplot as plt

    ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.legend(**{"fontsize": 8, **(legend or {})})
    ax.grid(**{"alpha": 0.3, **(grid or {})})
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def views_plot(band: pd.DataFrame, flagged_days: list[str]) -> str | None:
    """Record views a day against the agent's own baseline band and the team's band."""
    if band.empty:
        return None
    fig, ax = _axes((9, 3.2))
    x = pd.to_datetime(band[DAY])
    ax.fill_between(x, band["team_med"].astype(float), band["team_hi"].astype(float), color="tab:green", alpha=0.18, step="mid", label="team: median to 95th percentile that day")
    ax.fill_between(x, band["own_med"].astype(float), band["own_hi"].astype(float), color="tab:blue", alpha=0.25, step="mid", label="own baseline: median to 90th percentile")
    ax.plot(x, band["views"], color="black", marker="o", markersize=3, linewidth=1.2, label="record views")
    flagged = band[band[DAY].isin(flagged_days)]
    ax.scatter(pd.to_datetime(flagged[DAY]), flagged["views"], s=90, facecolors="none", edgecolors="red", linewidths=2, label="alerted", zorder=5)
    fig.autofmt_xdate()
    return _finish(fig, ax, xlabel="day (UTC)", ylabel="customer record views per day", legend={"loc": "upper left"})


def accumulation_plot(own: pd.DataFrame, accumulated: dict, day: str, reference_days: int) -> str | None:
    """The measure that carries an agent-day's accumulated evidence, day by day, against
    their own normal over the window (:mod:`detector.evidence`): the window shaded, the
    reference before it lighter, and the running excess over the window's days."""
    if own.empty or not accumulated:
        return None
    window, parts = int(accumulated["window"]), accumulated["parts"]
    first = (pd.Timestamp(day) - pd.Timedelta(days=window + reference_days - 1)).strftime("%Y-%m-%d")
    rows = own[(own[DAY] >= first) & (own[DAY] <= day)].sort_values(DAY)
    if rows.empty or not all(p in rows for p in parts):
        return None
    x = pd.to_datetime(rows[DAY])
    values = rows[parts].to_numpy(float).sum(axis=1)
    since = pd.Timestamp(accumulated["since"])
    fig, ax = _axes((9, 3.2))
    ax.axvspan(pd.Timestamp(first) - pd.Timedelta(hours=12), since - pd.Timedelta(hours=12), color="grey", alpha=0.08, label=f"their reference ({reference_days} days before)")
    ax.axvspan(since - pd.Timedelta(hours=12), pd.Timestamp(day) + pd.Timedelta(hours=12), color="tab:red", alpha=0.12, label=f"the last {window} days")
    ax.plot(x, values, color="black", marker="o", markersize=3, linewidth=1.2, label=accumulated["phrase"])
    normal = accumulated["expected"] / max(accumulated["days"], 1)
    ax.hlines(normal, since - pd.Timedelta(hours=12), pd.Timestamp(day) + pd.Timedelta(hours=12), colors="tab:blue", linestyles="--", label=f"their own normal, {normal:,.1f} a day")
    in_window = x >= since
    if in_window.any():
        ax2 = ax.twinx()
        ax2.step(x[in_window], np.cumsum(values[in_window.to_numpy()] - normal), where="mid", color="tab:red", linewidth=1.5)
        ax2.set_ylabel("running excess (records)", color="tab:red")
    fig.autofmt_xdate()
    return _finish(fig, ax, xlabel="day (UTC)", ylabel="per day", legend={"loc": "upper left", "fontsize": 7})


def hours_plot(today: pd.DataFrame, before: pd.DataFrame) -> str | None:
    """Accesses per local hour that day against the mean of the agent's baseline days."""
    if today.empty:
        return None
    fig, ax = _axes((6, 2.8))
    hours = np.arange(24)
    ax.bar(hours, today[HOURS].to_numpy(float)[0], color="tab:red", alpha=0.7, label="this day")
    if len(before):
        ax.plot(hours, before[HOURS].to_numpy(float).mean(axis=0), color="black", marker=".", label=f"usual (mean of {len(before)} baseline days)")
    ax.set_xticks(range(0, 24, 3))
    return _finish(fig, ax, xlabel="local hour of day", ylabel="accesses per hour")


def mix_plot(today: pd.DataFrame, before: pd.DataFrame, mix: dict[str, str]) -> str | None:
    """The share of the day's record views of each kind in ``mix`` (column -> label),
    against the agent's baseline days."""
    if today.empty:
        return None
    fig, ax = _axes((6, 2.8))
    labels = list(mix.values())
    t = today[list(mix)].to_numpy(float)[0] / max(float(today["views"].iloc[0]), 1.0)
    y = np.arange(len(labels))
    ax.barh(y + 0.2, 100 * t, height=0.4, color="tab:red", alpha=0.7, label="this day")
    if len(before):
        usual = (before[list(mix)].to_numpy(float) / np.maximum(before["views"].to_numpy(float)[:, None], 1.0)).mean(axis=0)
        ax.barh(y - 0.2, 100 * usual, height=0.4, color="grey", label="usual")
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    return _finish(fig, ax, xlabel="% of the day's record views", grid={"axis": "x"})


def sparkline(values: np.ndarray, marks: list[int], width: int = 120, height: int = 24) -> dict:
    """Points of a small inline SVG line (numbers only: nothing from the logs)."""
    if len(values) == 0:
        return {"points": "", "marks": [], "width": width, "height": height}
    top = max(float(np.nanmax(values)), 1.0)
    xs = np.linspace(1, width - 1, len(values)) if len(values) > 1 else np.array([width / 2])
    ys = height - 1 - (height - 2) * np.nan_to_num(values) / top
    return {
        "points": " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys)),
        "marks": [{"x": round(float(xs[i]), 1), "y": round(float(ys[i]), 1)} for i in marks if i < len(xs)],
        "width": width,
        "height": height,
    }
