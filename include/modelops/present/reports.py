"""The one number formatter every page uses, and the plots the monitoring report draws.

`format_value`, `plain_number`, `plain_value`, `share` and `direction` (words from the sign) are the
templates' filters (`present.pages`). The module imports nothing heavy at its top: the monitor page
(an Airflow plugin) formats its numbers with it.
"""

from __future__ import annotations

import base64
import io
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

TOP_LEVELS = 12  # a categorical plot shows this many levels; the rest are pooled as "other"
OTHER_LEVELS = "other"
FEW_VALUES = 10  # a numeric feature with at most this many distinct values is drawn as bars, not a CDF
TINY = 1e-4  # below this magnitude (p-values) a number is no ordinary magnitude: scientific notation

TEMPLATES = Path(__file__).resolve().parent / "templates"  # the pages' templates and stylesheet (package files)


def plain_number(value: float, sign: bool = False) -> str:
    """A number as a person reads it, never 1.2e+05: three decimals for ordinary figures (0.761, -0.040),
    three significant digits from 10 (12.3), whole numbers with separators from 1000 (123,456), three
    significant digits below 0.001 (0.000123); only magnitudes below 1e-4 (p-values) are scientific."""
    value = float(value)
    if not math.isfinite(value):
        return "n/a"
    plus = "+" if sign and value > 0 else ""
    size = abs(value)
    if 0 < size < TINY:
        return f"{plus}{value:.2e}"
    if size >= 1000:
        decimals = 0
    elif size >= 10:
        decimals = 2 - math.floor(math.log10(size))
    elif size >= 0.001 or size == 0:
        decimals = 3
    else:
        decimals = 2 - math.floor(math.log10(size))
    return f"{plus}{value:,.{decimals}f}"


def plain_value(value: float) -> str:
    """A data value (a bucket's edge, a code): whole numbers as integers (120,000; 1), others as `plain_number`."""
    value = float(value)
    return f"{int(value):,}" if value.is_integer() else plain_number(value)


def share(value: float | None) -> str:
    """A share (0..1) as a percentage with one decimal: 0.34925... -> 34.9%."""
    if value is None or not math.isfinite(float(value)):
        return "n/a"
    return f"{float(value):.1%}"


def direction(change: float, up: str = "above", down: str = "below") -> str:
    """The word for a change's sign ("above"/"below", "rise"/"drop"); the magnitude is shown unsigned beside it."""
    return up if change > 0 else down if change < 0 else "unchanged"


def png_base64(fig, tight: bool = True) -> str:
    """A matplotlib figure as base64 PNG text, ready for a data: URI (`tight`: cropped to its drawn box, which
    draws the figure twice; a figure laid out by its own layout engine passes False)."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=90, **({"bbox_inches": "tight"} if tight else {}))
    return base64.b64encode(buffer.getvalue()).decode()


def cdf_plot(title: str, profile: dict[str, Any], values: np.ndarray) -> str:
    """Reference CDF (from the stored grid) against the current empirical CDF on the same edges."""
    import matplotlib.pyplot as plt
    import numpy as np

    from modelops.stats import drift

    edges, ref = np.asarray(profile["edges"]), np.asarray(profile["cdf"])
    x = values[np.isfinite(values)]
    _, cur = drift.grid_cdf(profile, x) if len(x) else (edges, np.zeros_like(ref))
    fig, ax = plt.subplots(figsize=(5.5, 3.0))
    ax.step(edges, ref, where="post", label="reference", color="#4c72b0")
    ax.step(edges, cur, where="post", label="current", color="#dd8452")
    ax.set_title(title)
    ax.set_ylabel("cumulative share")
    ax.legend(loc="lower right")
    png = png_base64(fig)
    plt.close(fig)
    return png


def _support(profile: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """The reference's values and their shares, read from its grid: the edges where the CDF steps up.

    Quantile interpolation adds edges between two values (0.8 between 0 and 1); the CDF does not step there.
    """
    import numpy as np

    edges, cdf = np.asarray(profile["edges"], dtype=float), np.asarray(profile["cdf"], dtype=float)
    steps = np.diff(np.concatenate([[0.0], cdf]))
    return edges[steps > 0], steps[steps > 0]


def few_values(profile: dict[str, Any], values: np.ndarray) -> bool:
    """A numeric feature with at most FEW_VALUES distinct values (0/1 flags, codes) in the reference and the window."""
    import numpy as np

    if not 0 < len(profile["edges"]) <= 2 * FEW_VALUES:  # each gap between two values adds one edge at most
        return False
    finite = values[np.isfinite(values)]
    return len(_support(profile)[0]) <= FEW_VALUES and len(np.unique(finite)) <= FEW_VALUES


def value_shares(profile: dict[str, Any], values: np.ndarray) -> pd.DataFrame:
    """Reference and window share of each distinct value of a few-valued numeric feature (rows without a value out).

    Window values the reference never held are pooled as "other".
    """
    import numpy as np
    import pandas as pd

    support, ref = _support(profile)
    x = values[np.isfinite(values)]
    cur = np.array([(x == value).sum() for value in support], dtype=float)
    other = len(x) - cur.sum()
    index = [plain_value(v) for v in support]
    table = pd.DataFrame({"reference": ref, "current": cur / len(x) if len(x) else cur}, index=index)
    if other:
        table.loc[OTHER_LEVELS] = [0.0, other / len(x)]
    return table


def category_shares(profile: dict[str, Any], values: pd.Series, top: int = TOP_LEVELS) -> pd.DataFrame:
    """Reference and current share per level: the `top` levels by combined share, the rest as "other".

    Levels are named by `drift.category_labels`, as the drift test names them, so 1 and 1.0 are one bar.
    """
    import pandas as pd

    from modelops.stats import drift

    ref = pd.Series(profile["counts"], dtype=float)
    ref = ref / ref.sum() if ref.sum() else ref
    cur = pd.Series(drift.category_counts(values), dtype=float)
    cur = cur / cur.sum() if cur.sum() else cur
    table = pd.DataFrame({"reference": ref, "current": cur}).fillna(0.0)
    pooled = table.index == drift.OTHER  # the profile's own pool of rare levels
    ranked = table.loc[~pooled].assign(both=lambda t: t["reference"] + t["current"])
    ranked = ranked.sort_values("both", ascending=False, kind="stable").drop(columns="both")
    shown, rest = ranked.iloc[:top], pd.concat([ranked.iloc[top:], table.loc[pooled]])
    if len(rest):
        shown = pd.concat([shown, rest.sum().to_frame(f"{OTHER_LEVELS} ({len(rest)} levels)").T])
    return shown


def bar_plot(title: str, table: pd.DataFrame, label: str = "share of rows") -> str:
    """Shares per level, reference against current, as side-by-side horizontal bars (most common on top)."""
    import matplotlib.pyplot as plt
    import numpy as np

    positions = np.arange(len(table))
    fig, ax = plt.subplots(figsize=(5.5, 1.0 + 0.32 * len(table)))
    ax.barh(positions - 0.2, table["reference"], 0.4, label="reference", color="#4c72b0")
    ax.barh(positions + 0.2, table["current"], 0.4, label="current", color="#dd8452")
    ax.set_yticks(positions, [_short(str(k)) for k in table.index])
    ax.invert_yaxis()
    ax.set_xlabel(label)
    ax.set_title(title)
    ax.legend(loc="best")
    png = png_base64(fig)
    plt.close(fig)
    return png


def _short(label: str, width: int = 28) -> str:
    return label if len(label) <= width else label[: width - 1] + "…"


def format_value(value: Any, spec: str = "", missing: str = "") -> str:
    """The reports' one number formatter: `plain_number` by default, `spec` "%" for a share, "+" for a signed
    change, or a fixed-point format spec ("+.3f"); None is `missing`, NaN/inf "n/a", a text stays as it is
    (the templates escape it)."""
    if value is None:
        return missing
    if isinstance(value, bool):
        return "yes" if value else "no"
    if hasattr(value, "item") and not isinstance(value, str):  # a numpy scalar
        value = value.item()
    if isinstance(value, int):
        return str(value)
    if not isinstance(value, float):
        return str(value)
    if not math.isfinite(value):
        return "n/a"
    if spec == "%":
        return share(value)
    if spec in ("", "+"):
        return plain_number(value, sign=spec == "+")
    return format(value, spec)
