"""The model card's "Offline and online metrics" section: this version's holdout figure beside what its labelled
production windows measured, every other version's the same way, and the correlation across versions
(`monitor.offline_online.agreement`, read from the monitoring history and the versions' holdout tags)."""

from __future__ import annotations

from typing import Any

from modelops.config.settings import Settings
from modelops.govern.card_doc import Doc, fmt
from modelops.monitor.offline_online import Agreement, load_agreement

HEADER = ["version", "holdout", "online (mean of windows)", "labelled windows", "lowest", "highest", "gap windows"]


def gather_offline_online(dataset: str, model_name: str, metric: str, settings: Settings) -> Agreement:
    """The agreement of the dataset's model versions on `metric` (the card's primary metric)."""
    from modelops.monitor.thresholds import thresholds_for

    spec = settings.datasets.get(dataset)
    return load_agreement(dataset, model_name, metric, thresholds_for(settings, None, spec))


def offline_online_section(doc: Doc, found: Agreement | None, version: str) -> None:
    """ "Offline and online metrics": the table (this version marked) and the correlation, or why there is none."""
    if found is None:
        return
    doc.h(2, "Offline and online metrics")
    mine = next((v for v in found.versions if v.version == str(version)), None)
    if mine is None:
        doc.p(f"No labelled monitoring window of this version yet: its {found.metric} is known on the holdout only.")
    else:
        doc.p(
            f"{found.metric} of this version: holdout {fmt(mine.holdout, '.3f')}, online "
            f"{fmt(mine.online, '.3f')} (the mean of {mine.windows} labelled window(s)); {mine.gap_windows} "
            "window(s) with an interval entirely worse than the holdout beyond the monitoring tolerance."
        )
    if found.versions:
        doc.table(HEADER, [_row(v, str(version)) for v in found.versions])
    c = found.correlation
    if c.spearman is None:
        doc.p(f"Correlation of holdout and online {found.metric} across versions: {c.note}.")
    else:
        doc.p(
            f"Correlation of holdout and online {found.metric} across versions ({c.note}): Spearman "
            f"{fmt(c.spearman, '.3f')} (p {fmt(c.spearman_p, '.3g')}), Pearson {fmt(c.pearson, '.3f')} "
            f"(p {fmt(c.pearson_p, '.3g')})."
        )
    if found.unattributed:
        doc.p(f"{found.unattributed} labelled window(s) left out: which version served them is not recorded.")


def _row(v: Any, version: str) -> list[Any]:
    label = f"v{v.version}" + (" (this card)" if v.version == version else "")
    return [label, v.holdout, v.online, v.windows, v.lowest, v.highest, v.gap_windows]
