"""The model card's account of the hyperparameter search: per candidate family, what was searched, every
configuration tried per round with its score, and what was chosen (preprocessing and calibration included).

`search_facts` reads each ranked candidate's recorded search (`artifacts.SEARCH_ARTIFACT` on its run, written
by `runs.log_candidate` from `TrainedCandidate.search_record`); `search_section` puts it into words.
"""

from __future__ import annotations

from typing import Any

from modelops.govern.card_doc import Doc, fmt
from modelops.store import artifacts


def search_facts(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each ranked candidate's recorded search, best first ({"candidate", "run_id", "search": None when the run
    recorded none, e.g. a version trained before searches were recorded})."""
    facts = []
    for ranked in report.get("ranking") or []:
        run_id = ranked.get("run_id")
        record = artifacts.load_run_dict(run_id, artifacts.SEARCH_ARTIFACT) if run_id else None
        search = record if isinstance(record, dict) and "space" in record else None
        facts.append({"candidate": ranked.get("candidate"), "run_id": run_id, "search": search})
    return facts


def _value(value: Any) -> str:
    return fmt(value, ".4g") if isinstance(value, float) else fmt(value)


def _space(dist: dict[str, Any]) -> str:
    if "log_uniform" in dist:
        lo, hi = dist["log_uniform"]
        return f"log-uniform {_value(float(lo))} to {_value(float(hi))}"
    return "choice of " + ", ".join(_value(v) for v in dist.get("choice") or [])


def _config(params: dict[str, Any]) -> str:
    return ", ".join(f"{k}={_value(v)}" for k, v in sorted(params.items()))


def _calibration(choice: dict[str, Any]) -> str:
    method = choice.get("method") or "n/a"
    losses = choice.get("log_loss") or {}
    if not losses:
        return f"calibration {method} (configured; nothing to choose)."
    scored = ", ".join(f"{m} {_value(float(v))}" for m, v in losses.items())
    return (
        f"calibration {method}, chosen by the lower mean held-out log loss over {choice.get('folds')} seeded folds "
        f"of the calibration rows ({scored})."
    )


def _family(doc: Doc, candidate: str, search: dict[str, Any], primary: str) -> None:
    trace = search.get("trace") or []
    excluded = sum(1 for row in trace if row.get("excluded"))
    budget = search.get("max_tree_levels")
    doc.h(3, candidate)
    doc.p(
        f"{search.get('configs')} configurations over {search.get('rounds')} rounds"
        + (" (stopped by the safety stop: not reproducible)" if search.get("stopped_by_budget") else "")
        + "; "
        + (
            f"scoring budget {_value(float(budget))} tree levels per row, {excluded} fitted configurations over it "
            "excluded; "
            if budget is not None
            else "no scoring budget; "
        )
        + (
            f"the final model tests a row on {_value(float(levels))} tree levels; "
            if (levels := search.get("tree_levels"))
            else "the final model has no trees; "
        )
        + _calibration(search.get("calibration") or {})
        + "".join(
            f" The final fit of {_config(fit.get('params') or {})} tested a row on "
            f"{_value(float(fit.get('tree_levels') or 0.0))} tree levels, over the budget: the search's next best "
            "configuration was fitted instead."
            for fit in search.get("over_budget_fits") or []
        )
    )
    chosen = search.get("best_params") or {}
    doc.table(
        ["parameter", "searched", "chosen"],
        [[name, _space(dist), _value(chosen.get(name))] for name, dist in sorted((search.get("space") or {}).items())],
    )
    doc.table(
        ["round", "rows", "configuration", f"validation {primary}", "tree levels", "note"],
        [
            [
                row.get("round"),
                row.get("rows"),
                _config(row.get("params") or {}),
                row.get(primary),
                row.get("tree_levels"),
                row.get("excluded", ""),
            ]
            for row in trace
        ],
    )


def search_section(doc: Doc, facts: list[dict[str, Any]] | None, primary: str) -> None:
    """The card's "Hyperparameter search" section (nothing when the facts were not gathered)."""
    if facts is None:
        return
    doc.h(2, "Hyperparameter search")
    doc.p(
        "Per candidate family: a seeded successive-halving search over a sample of configurations of the "
        "searched space (`prep__` parameters configure the feature pipeline), each round fitting the survivors "
        f"on more rows and keeping the best by {primary} on a fixed validation part; then the winner's final fit "
        "and its probability calibration. The same data and configuration give the same choices."
    )
    for fact in facts:
        if fact["search"] is None:
            doc.h(3, str(fact["candidate"]))
            doc.p(f"The run {fact['run_id']} recorded no search (trained before searches were recorded).")
        else:
            _family(doc, str(fact["candidate"]), fact["search"], primary)
