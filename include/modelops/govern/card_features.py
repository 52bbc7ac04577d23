"""The model card's section on what each feature earns and costs (its figures: `card_facts.feature_value_and_cost`).

One table: per feature, the drop-one gain in the primary metric with its interval (recorded at
training by `evaluate.feature_value`), its share of the compiled scoring path's time and memory
(`score.feature_cost`), and whether it is useless (removing it does not hurt beyond noise).
"""

from __future__ import annotations

from typing import Any

from modelops.govern.card_doc import Doc, fmt
from modelops.govern.card_facts import CardInputs

_f = fmt


def feature_value_section(doc: Doc, inputs: CardInputs, figures: dict[str, Any]) -> None:
    """What each feature adds to the primary metric (drop-one) beside what it costs to score."""
    table = figures["feature_value"]
    doc.h(2, "What each feature earns and costs")
    drop, costs = table["drop_one"], table["costs"]
    if table["recorded"]:
        doc.p(
            f"Metric gain: how much {table['metric']} loses when the pipeline is refitted without the feature "
            f"(positive: the feature helps; {drop['fit_rows']} train rows, judged on {drop['judged_rows']} "
            f"holdout rows, {drop['confidence']:.0%} paired-bootstrap interval). Useless: the interval reaches 0, "
            "so removing it does not hurt beyond noise."
        )
    else:
        doc.p(drop.get("skipped") or "The drop-one check was not recorded when this version was trained.")
    if costs:
        doc.p(
            f"Time and memory shares: each feature's part of the compiled scoring path's column work on "
            f"{costs['rows']} holdout rows ({_f(costs['column_seconds'] * 1000)} ms and "
            f"{costs['column_bytes'] / 1e6:.1f} MB in all, median of {costs['repeats']} passes; the estimator's "
            f"predict, {_f(costs['predict_seconds'] * 1000)} ms, reads every feature at once and is not split)."
        )
    else:
        doc.p(f"Costs not measured: {table['cost_error']}.")
    useless = [r["feature"] for r in table["features"] if r["useless"]]
    if useless:
        doc.p(f"Features that earn no place: {', '.join(useless)}.")
    doc.table(
        [
            "feature",
            f"{table['metric'] or 'metric'} gain",
            "CI low",
            "CI high",
            "time share",
            "memory share",
            "useless",
        ],
        [
            [
                r["feature"],
                r["gain"],
                r["ci_low"],
                r["ci_high"],
                r["time_share"],
                r["memory_share"],
                {True: "yes", False: "no"}.get(r["useless"]),
            ]
            for r in table["features"]
        ],
    )
