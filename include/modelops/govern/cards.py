"""Model cards: one per registered version, in Markdown and HTML, logged with the version and linked from its tags.

`card_facts` gathers the version's record and computes the figures on its holdout, `card_forecast` its record
of service (forecasts that used its scores, score decay by age); this module puts
them into words (`render`: a `Doc` of headings, paragraphs, lists, tables and figures) and writes
them through the templates `card.md.j2` and `card.html.j2`: card.md (PNG figures beside it),
card.html (self-contained, figures embedded) and card.json (every figure) under `catalog.card_dir`.
It logs the folder on the version's run (`model_card/`) and sets the version tags `modelops.card`
(artifact URI) and `modelops.card_path`. Running it again replaces all of it. Cards never show a
value of a PII column.

`python -m modelops.govern.cards MODEL VERSION` makes the card of any registered version on demand.
"""

from __future__ import annotations

import argparse
import base64
import re
from datetime import UTC, datetime
from typing import Any

import numpy as np

from modelops.config.settings import DatasetSpec, Settings
from modelops.core import catalog
from modelops.core.tags import Tag
from modelops.govern.card_doc import Doc, fmt
from modelops.govern.card_facts import PD_FEATURES, CardError, CardInputs, compute_figures, gather
from modelops.govern.card_features import feature_value_section
from modelops.govern.card_forecast import CardHistory, gather_history, history_plots, served_sections
from modelops.govern.card_online import offline_online_section
from modelops.govern.card_search import search_facts, search_section
from modelops.present.reports import png_base64
from modelops.store import artifacts, registry

# --- plots --------------------------------------------------------------------------------------


def _plots(figures: dict[str, Any], primary: str) -> dict[str, str]:
    """PNG (base64) per file name: calibration, importance, one per partial-dependence curve."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, str] = {}
    cal = figures["calibration"]["bins"]
    if cal:
        fig, ax = plt.subplots(figsize=(4.5, 4.0))
        ax.plot([0, 1], [0, 1], ls="--", color="#999999", label="perfect calibration")
        ax.plot([b["mean_score"] for b in cal], [b["outcome_rate"] for b in cal], "o-", color="#4c72b0", label="model")
        ax.set_xlabel("mean predicted probability (score decile)")
        ax.set_ylabel("observed outcome rate")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(loc="upper left")
        ax.set_title("calibration on the holdout")
        out["calibration.png"] = png_base64(fig)
        plt.close(fig)
    ranking = figures["importance"][:12]
    if ranking:
        fig, ax = plt.subplots(figsize=(5.5, 1.0 + 0.3 * len(ranking)))
        positions = np.arange(len(ranking))
        ax.barh(positions, [r["importance"] for r in ranking], xerr=[r["std"] for r in ranking], color="#4c72b0")
        ax.set_yticks(positions, [r["feature"] for r in ranking])
        ax.invert_yaxis()
        ax.set_xlabel(f"drop in {primary} when shuffled")
        ax.set_title("permutation importance (holdout)")
        out["importance.png"] = png_base64(fig)
        plt.close(fig)
    for i, curve in enumerate(figures["partial_dependence"], start=1):
        fig, ax = plt.subplots(figsize=(4.5, 3.0))
        if curve["kind"] == "categorical":
            positions = np.arange(len(curve["grid"]))
            ax.bar(positions, curve["average"], color="#4c72b0")
            ax.set_xticks(positions, [str(g)[:14] for g in curve["grid"]], rotation=45, ha="right")
        else:
            ax.plot(curve["grid"], curve["average"], "o-", color="#4c72b0")
        ax.set_xlabel(curve["feature"])
        ax.set_ylabel("average predicted probability")
        ax.set_title(f"partial dependence: {curve['feature']}")
        out[f"pd_{i}.png"] = png_base64(fig)
        plt.close(fig)
    return out


# --- the document -------------------------------------------------------------------------------


_f = fmt  # the one number formatter (card_doc)
__all__ = ["Doc", "build_card", "render", "resolve_version"]  # Doc: where the card's sections build


def _labels_text(spec: DatasetSpec) -> str:
    negative = "any other value" if spec.negative_labels is None else " or ".join(map(str, spec.negative_labels))
    other = "blank is unlabelled" if spec.negative_labels is None else "blank or other values are unlabelled"
    return f"{spec.target} (1 when {' or '.join(map(str, spec.positive_labels))}, 0 when {negative}; {other})"


def _roles(spec: DatasetSpec) -> list[list[str]]:
    roles: dict[str, list[str]] = {}

    def add(column: str | None, role: str) -> None:
        if column:
            roles.setdefault(column, []).append(role)

    add(spec.target, "target: " + _labels_text(spec))
    add(spec.id_column, "id (row key; never a feature)")
    add(spec.time_column, "time (holdout = latest period when it has 2+ values)")
    for column in spec.numeric:
        add(column, "numeric feature")
    for column in spec.categorical:
        add(column, "categorical feature")
    for column, bins in spec.protected.items():
        add(column, f"protected, sliced by bins {bins}" if bins else "protected, sliced by value")
    add(spec.geography, "geography (reporting only)")
    for column in spec.pii:
        add(column, "PII: dropped at collection, never in the batch or this card")
    return [[column, "; ".join(r)] for column, r in roles.items()]


def _fairness_section(doc: Doc, fairness: dict[str, Any] | None) -> str:
    """Render report['fairness'] when present; returns the one-line status for the summary."""
    doc.h(2, "Fairness")
    if not fairness:
        doc.p("Fairness not assessed: the evaluation report of this version holds no fairness results.")
        return "not assessed"
    limits = fairness.get("limits") or {}
    shown = ", ".join(f"{k.replace('_', ' ')} {'report only' if v is None else _f(v)}" for k, v in limits.items())
    status = "passed" if fairness.get("passed") else "breaches: " + "; ".join(fairness.get("breaches") or [])
    doc.p(
        f"Decision threshold {_f(fairness.get('threshold'))}; groups under {fairness.get('min_group_rows')} rows "
        f"are reported, not gated. Limits: {shown or 'none'}. Result: {status}."
    )
    champion = fairness.get("champion") or {}
    for column, body in (fairness.get("columns") or {}).items():
        doc.h(3, f"By {column}")
        doc.table(
            ["group", "rows", "selection rate", "TPR", "FPR", "precision", "calibration gap", "gated"],
            [
                [
                    str(label),
                    g.get("rows"),
                    g.get("selection_rate"),
                    g.get("tpr"),
                    g.get("fpr"),
                    g.get("precision"),
                    g.get("calibration_gap"),
                    bool(g.get("gated")),
                ]
                for label, g in (body.get("groups") or {}).items()
            ],
        )
        line = (
            f"Demographic parity difference {_f(body.get('demographic_parity_difference'))} (limit "
            f"{_f(limits.get('demographic_parity_difference'))}); equalized odds difference "
            f"{_f(body.get('equalized_odds_difference'))} (limit {_f(limits.get('equalized_odds_difference'))})."
        )
        old = champion.get(column) if isinstance(champion, dict) else None
        if isinstance(old, dict):
            line += (
                f" Champion on the same rows: DPD {_f(old.get('demographic_parity_difference'))}, "
                f"EOD {_f(old.get('equalized_odds_difference'))}."
            )
        if body.get("small_groups"):
            line += f" Too small to gate: {', '.join(map(str, body['small_groups']))}."
        if body.get("note"):
            line += f" {body['note']}."
        doc.p(line)
    return "passed" if fairness.get("passed") else f"breached ({len(fairness.get('breaches') or [])})"


def alias_line(aliases: list[str], generated_at: str) -> str:
    """The aliases as they were when the card was written, dated: a card is a static file, aliases move."""
    return (
        f"aliases at writing ({generated_at}): {', '.join(aliases) or 'none'} (the aliases now are on the Model "
        "monitor page and in MLflow)"
    )


def _glance(doc: Doc, inputs: CardInputs, figures: dict[str, Any], fairness_status: str) -> None:
    """At a glance: what it predicts, for whom, how well, against what, where it errs; a two-minute read."""
    spec, report, st = inputs.spec, inputs.report, inputs.statements
    primary, head = _primary(inputs), figures["metrics"][_primary(inputs)]
    confidence = float(inputs.evaluation.get("confidence", 0.95))
    baselines, champion, verdict = report.get("baselines") or {}, report.get("champion"), report.get("verdict") or {}
    glance = [
        f"Predicts: {_labels_text(spec)}. {st['description']}".strip(),
        f"Intended use: {st['intended_use'] or 'not stated (add intended_use to the dataset spec)'}",
        f"Owner: {st['owner'] or 'not stated (add owner to the dataset spec)'}",
        f"Holdout {primary} {_f(head['value'])} ({confidence:.0%} CI {_f(head['ci_low'])} to {_f(head['ci_high'])}) "
        f"on {report.get('holdout_rows', len(inputs.holdout))} labelled rows; rule baseline "
        f"{_f((baselines.get('rule') or {}).get(primary))}, majority baseline "
        f"{_f((baselines.get('majority') or {}).get(primary))}.",
    ]
    if champion is None:
        glance.append("Champion comparison: there was no champion when this version was evaluated.")
    elif champion.get("error"):
        glance.append(f"Champion comparison: v{champion['version']} could not be compared ({champion['error']}).")
    else:
        boot = champion["bootstrap"]
        glance.append(
            f"Against champion v{champion['version']}: {primary} change {_f(boot['improvement'], '+.4f')} "
            f"(CI {_f(boot['ci_low'], '+.4f')} to {_f(boot['ci_high'], '+.4f')}) on {champion['comparison_rows']} "
            "rows neither model trained on."
        )
    glance.append(
        f"Decision at training: {'PROMOTE' if verdict.get('promote') else 'KEEP CHAMPION'}"
        f" ({sum(not c['passed'] for c in verdict.get('checks', []))} of {len(verdict.get('checks', []))} gates "
        "failed)."
    )
    top = [
        f"{r['feature']} ({_f(r['importance'])})" for r in figures["importance"][:PD_FEATURES] if r["importance"] > 0
    ]
    if top:
        glance.append(f"Relies most on (drop in {primary} when shuffled): {', '.join(top)}.")
    worst = figures["segments"]["worst"]
    if worst:
        w, o = worst[0], figures["segments"]["overall"]
        glance.append(
            f"Errs most on {w['column']} = {w['segment']} ({w['rows']} rows): log loss {_f(w['log_loss'])} vs "
            f"{_f(o['log_loss'])} overall, error rate {_f(w['error_rate'])} vs {_f(o['error_rate'])}."
        )
    cal = figures["calibration"]
    glance.append(
        f"Calibration: observed rate within {_f(cal['weighted_gap'])} of the mean score on average across "
        f"score deciles (largest gap {_f(cal['max_gap'])})."
    )
    glance.append(f"Fairness: {fairness_status}.")
    n_limits = len(st["stated_limitations"]) + len(report.get("limitations") or spec.limitations)
    glance.append(f"Limitations: {n_limits} listed below; read them before use.")
    doc.h(2, "At a glance")
    doc.items(glance)


def _use_and_limits(doc: Doc, inputs: CardInputs, figures: dict[str, Any]) -> None:
    """Intended use, owner, the limitations stated and those derived from the spec's shape."""
    spec, report, st = inputs.spec, inputs.report, inputs.statements
    doc.h(2, "Intended use and limitations")
    doc.p(f"Intended use: {st['intended_use'] or 'not stated.'}")
    doc.p(f"Owner: {st['owner'] or 'not stated.'}")
    doc.p("Limitations stated by the owner:")
    doc.items(st["stated_limitations"] or ["none stated (add `limitations` to the dataset spec)"])
    derived = report.get("limitations") or spec.limitations
    if derived:
        doc.p("What the dataset spec cannot do (derived from its shape):")
        doc.items(derived)
    if st["from_current_config"]:
        doc.p(
            f"{', '.join(st['from_current_config'])}: from the current configuration (not recorded when this "
            "version was trained)."
        )


def _data(doc: Doc, inputs: CardInputs, figures: dict[str, Any]) -> None:
    """The data snapshot, its labels and splits, and every column's role."""
    spec, report, tags = inputs.spec, inputs.report, inputs.tags
    labels = report.get("labels") or {}
    doc.h(2, "Data")
    doc.table(
        ["item", "value"],
        [
            ["batch (data snapshot)", tags.get(Tag.BATCH_PATH, "")],
            ["data hash (SHA-256)", tags.get(Tag.DATA_HASH, "")],
            ["validation", f"{tags.get(Tag.VALIDATION_ID, '')} ({tags.get(Tag.VALIDATION_REPORT, '')})"],
            ["rows labelled", tags.get(Tag.ROWS_LABELLED, str(labels.get("labelled", "")))],
            ["rows unlabelled (never trained on or evaluated)", tags.get(Tag.ROWS_UNLABELLED, "")],
            ["row filter", tags.get(Tag.ROW_FILTER, "") or "none"],
            ["extra batches", tags.get(Tag.EXTRA_BATCHES, "0")],
            ["splits (rows)", ", ".join(f"{k} {v}" for k, v in inputs.split_rows.items())],
            ["holdout read from", inputs.holdout_source],
        ],
    )
    if labels:
        doc.p(
            f"Labelled rows: {labels.get('positive')} positive, {labels.get('negative')} negative; unlabelled: "
            f"{labels.get('missing_target')} blank, other target values {labels.get('other_values') or 'none'}."
        )

    doc.h(2, "Features and their roles")
    doc.table(["column", "role"], _roles(spec))


def _metrics(doc: Doc, inputs: CardInputs, figures: dict[str, Any]) -> None:
    """Every metric on the holdout with its interval, beside the baselines'."""
    primary = _primary(inputs)
    metrics, head = figures["metrics"], figures["metrics"][primary]
    confidence = float(inputs.evaluation.get("confidence", 0.95))
    baselines = inputs.report.get("baselines") or {}
    doc.h(2, "Metrics on the holdout")
    doc.p(
        f"{confidence:.0%} percentile-bootstrap intervals ({head['resamples']} seeded resamples of "
        f"{head['rows']} rows); the baselines are scored on the same rows."
    )
    doc.table(
        ["metric", "value", "CI low", "CI high", "rule baseline", "majority baseline"],
        [
            [
                name,
                m["value"],
                m["ci_low"],
                m["ci_high"],
                (baselines.get("rule") or {}).get(name),
                (baselines.get("majority") or {}).get(name),
            ]
            for name, m in metrics.items()
        ],
    )


def _champion(doc: Doc, inputs: CardInputs, figures: dict[str, Any]) -> None:
    """The champion comparison on rows neither model trained on, and the promotion gates."""
    champion, verdict = inputs.report.get("champion"), inputs.report.get("verdict") or {}
    doc.h(2, "Champion comparison and decision")
    if champion is None:
        doc.p("No champion existed when this version was evaluated.")
    elif champion.get("error"):
        doc.p(f"Champion v{champion['version']} could not be compared: {champion['error']}")
    else:
        doc.p(
            f"Champion v{champion['version']} and this version on {champion['comparison_rows']} holdout rows neither "
            f"trained on ({champion['excluded_rows']} left out: in the champion's training data)."
        )
        doc.table(
            ["metric", "this version", f"champion v{champion['version']}"],
            [[k, champion["challenger_metrics"].get(k), v] for k, v in champion["metrics"].items()],
        )
        if champion.get("worse_slices"):
            doc.items(
                [
                    f"{w['column']} = {w['slice']}: {_f(w['challenger'])} vs {_f(w['champion'])} ({w['rows']} rows)"
                    for w in champion["worse_slices"]
                ]
            )
    doc.p("Gates:")
    doc.items(verdict.get("reasons") or [])


def _slices(doc: Doc, inputs: CardInputs, figures: dict[str, Any], fairness: Doc) -> None:
    """Each protected slice's figures, then the fairness section."""
    report, primary = inputs.report, _primary(inputs)
    doc.h(2, "Protected slices")
    slices = report.get("slices") or {}
    if not slices:
        doc.p("The spec names no protected column: no slices.")
    for column, groups in slices.items():
        doc.h(3, f"By {column}")
        doc.table(
            ["slice", "rows", "outcome rate", "mean score", primary],
            [
                [str(k), g.get("rows"), g.get("positive_rate"), g.get("mean_score"), g.get(primary)]
                for k, g in groups.items()
            ],
        )
    doc.blocks += fairness.blocks


def _calibration(doc: Doc, inputs: CardInputs, figures: dict[str, Any]) -> None:
    """Observed outcome rate against the mean score by score decile."""
    cal = figures["calibration"]
    doc.h(2, "Calibration")
    doc.p(
        "Observed outcome rate against the mean predicted probability, by score decile of the holdout "
        "(the dashed line is perfect calibration)."
    )
    doc.image("calibration.png", "calibration on the holdout")
    doc.table(
        ["bin", "rows", "mean score", "outcome rate"],
        [[str(i), b["rows"], b["mean_score"], b["outcome_rate"]] for i, b in enumerate(cal["bins"], start=1)],
    )


def _explanations(doc: Doc, inputs: CardInputs, figures: dict[str, Any]) -> None:
    """Permutation importance and partial dependence of the top features."""
    primary = _primary(inputs)
    doc.h(2, "Explanations")
    ranking = figures["importance"]
    if ranking:
        doc.p(
            f"Permutation importance: the drop in {primary} when one raw input column is shuffled "
            f"({ranking[0]['repeats']} repeats, {ranking[0]['rows']} holdout rows, seeded). Near zero or below: "
            "the model does not rely on it."
        )
        doc.image("importance.png", "permutation importance")
        doc.table(
            ["feature", f"drop in {primary}", "std"], [[r["feature"], r["importance"], r["std"]] for r in ranking]
        )
    else:
        doc.p("Permutation importance not computed: the holdout has one outcome class only.")
    if figures["partial_dependence"]:
        doc.p(
            "Partial dependence of the top features: the average predicted probability when every row's value is "
            "set to each grid value (a model's view, not a causal effect)."
        )
        for i, curve in enumerate(figures["partial_dependence"], start=1):
            doc.image(f"pd_{i}.png", f"partial dependence: {curve['feature']}")


def _errors(doc: Doc, inputs: CardInputs, figures: dict[str, Any]) -> None:
    """The segments where the model errs most."""
    doc.h(2, "Where the model errs most")
    seg = figures["segments"]
    doc.p(
        f"Segments of each feature and protected column (levels, quantile buckets of numbers, protected bins) with "
        f"at least {seg['min_rows']} rows, ranked by log loss; overall log loss {_f(seg['overall']['log_loss'])}, "
        f"error rate {_f(seg['overall']['error_rate'])} (decision threshold {_f(seg['threshold'])}). "
        f"{seg['considered']} segments considered."
    )
    if seg["worst"]:
        doc.table(
            ["column", "segment", "rows", "outcome rate", "mean score", "log loss", "error rate"],
            [
                [
                    s["column"],
                    s["segment"],
                    s["rows"],
                    s["outcome_rate"],
                    s["mean_score"],
                    s["log_loss"],
                    s["error_rate"],
                ]
                for s in seg["worst"]
            ],
        )


def _candidates_and_lineage(doc: Doc, inputs: CardInputs, figures: dict[str, Any]) -> None:
    """Every candidate's scores, and where the version came from."""
    report, tags, primary = inputs.report, inputs.tags, _primary(inputs)
    doc.h(2, "Candidates")
    doc.table(
        ["candidate", f"calibration-split {primary}", f"holdout {primary}", "run"],
        [
            [r["candidate"], r["selection_score"], (r.get("holdout") or {}).get(primary), r["run_id"]]
            for r in report.get("ranking") or []
        ],
    )

    doc.h(2, "Lineage")
    lineage = [
        ("training run", tags.get(Tag.PARENT_RUN_ID, "")),
        ("model run", inputs.run_id),
        ("git commit", tags.get(Tag.GIT_COMMIT, "")),
        ("config hash", tags.get(Tag.CONFIG_HASH, "")),
        ("training options hash", tags.get(Tag.TRAINING_HASH, "")),
        ("Airflow", f"{tags.get(Tag.AIRFLOW_DAG_ID, '')} / {tags.get(Tag.AIRFLOW_RUN_ID, '')}"),
        ("trigger reason", tags.get(Tag.TRIGGER_REASON, "")),
        ("compared to", tags.get(Tag.COMPARED_TO, "")),
    ]
    doc.table(["item", "value"], [[k, v] for k, v in lineage])


def _primary(inputs: CardInputs) -> str:
    return inputs.report.get("primary_metric") or inputs.evaluation["primary_metric"]


def render(inputs: CardInputs, figures: dict[str, Any], generated_at: str, served: CardHistory | None = None) -> Doc:
    """The card's content: at a glance first (a two-minute read), then the evidence section by section, then
    what the version did in service (`served`: its forecasts and score decay; None: not gathered)."""
    spec, report, tags = inputs.spec, inputs.report, inputs.tags
    doc = Doc()
    doc.h(1, f"Model card: {inputs.model_name} v{inputs.version}")
    doc.p(
        f"Dataset {spec.name}; {report.get('best', {}).get('candidate', tags.get(Tag.CANDIDATE, '?'))} "
        f"pipeline; {alias_line(inputs.aliases, generated_at)}; card generated {generated_at}."
    )
    fairness = Doc()
    fairness_status = _fairness_section(fairness, report.get("fairness"))
    _glance(doc, inputs, figures, fairness_status)
    for section in (_use_and_limits, _data, _metrics, _champion):
        section(doc, inputs, figures)
    _slices(doc, inputs, figures, fairness)
    for section in (_calibration, _explanations, feature_value_section, _errors):
        section(doc, inputs, figures)
    if served is not None:
        served_sections(doc, served)
    offline_online_section(doc, inputs.offline_online, inputs.version)
    _candidates_and_lineage(doc, inputs, figures)
    search_section(doc, figures.get("search"), _primary(inputs))
    return doc


# --- the card -----------------------------------------------------------------------------------


def _file_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]", "_", text)


def build_card(model_name: str, version: str, settings: Settings) -> dict[str, Any]:
    """Make, store, log and link the card of one registered version; returns its paths and a short summary."""
    from modelops.core.jsonsafe import json_safe

    inputs = gather(model_name, str(version), settings)
    model = artifacts.load_model(f"models:/{model_name}/{inputs.version}")
    figures = compute_figures(inputs, model) | {"search": search_facts(inputs.report)}
    generated_at = datetime.now(UTC).isoformat(timespec="seconds")
    served = gather_history(inputs, settings, figures)
    doc = render(inputs, figures, generated_at, served)
    images = _plots(figures, figures["primary_metric"]) | history_plots(served)
    title = f"Model card: {model_name} v{inputs.version}"
    final = catalog.card_dir(inputs.spec.name, model_name, inputs.version)
    with catalog.atomic_dir(final, replace=True) as staging:
        catalog.write_text(staging / catalog.CARD_MD, doc.markdown())
        catalog.write_text(staging / catalog.CARD_HTML, doc.html(title, images))
        catalog.write_json(
            staging / catalog.CARD_JSON,
            json_safe(
                {"model_name": model_name, "version": inputs.version, "generated_at": generated_at, **figures}
                | {"served": served.to_json()}
                | {"offline_online": inputs.offline_online.to_json() if inputs.offline_online else None}
            ),
        )
        for name, png in images.items():
            with catalog.atomic_file(staging / _file_name(name)) as tmp:
                tmp.write_bytes(base64.b64decode(png))
    uri = artifacts.log_card(
        model_name, inputs.version, inputs.run_id, str(final), catalog.CARD_HTML, str(final / catalog.CARD_HTML)
    )
    head = figures["metrics"][figures["primary_metric"]]
    worst = figures["segments"]["worst"]
    fairness = inputs.report.get("fairness")
    return json_safe(
        {
            "model_name": model_name,
            "version": inputs.version,
            "dataset": inputs.spec.name,
            "card_md": str(final / catalog.CARD_MD),
            "card_html": str(final / catalog.CARD_HTML),
            "artifact_uri": uri,
            "primary_metric": figures["primary_metric"],
            "value": head["value"],
            "ci_low": head["ci_low"],
            "ci_high": head["ci_high"],
            "top_features": [c["feature"] for c in figures["partial_dependence"]],
            "worst_segment": f"{worst[0]['column']} = {worst[0]['segment']}" if worst else None,
            "fairness": "not assessed" if not fairness else ("passed" if fairness.get("passed") else "breached"),
            "holdout_source": inputs.holdout_source,
        }
    )


def resolve_version(model_name: str, version: str) -> str:
    """A version number as given, or the version an alias (`champion`, `@challenger`) points at."""
    text = str(version).strip().lstrip("@")
    if text.isdigit():
        return text
    found = registry.version_by_alias(model_name, text)
    if found is None:
        raise CardError(f"{model_name} has no version or alias {version!r}")
    return str(found.version)


def main(argv: list[str] | None = None) -> None:
    """`python -m modelops.govern.cards MODEL VERSION`: make (or remake) the card of a registered version."""
    from modelops.config.settings import load_settings

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("model_name")
    parser.add_argument("version", help="a version number or an alias (champion, challenger)")
    args = parser.parse_args(argv)
    summary = build_card(args.model_name, resolve_version(args.model_name, args.version), load_settings())
    print(f"{summary['model_name']} v{summary['version']}: {summary['card_html']}")
    print(f"  markdown {summary['card_md']}; logged as {summary['artifact_uri']}")


if __name__ == "__main__":
    main()
