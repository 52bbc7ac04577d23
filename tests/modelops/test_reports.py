"""The HTML reports a person reads: direction words, plain numbers, plots that fit the feature, no raw JSON."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from modelops.present import reports, window_page
from modelops.stats import drift


class _Page(HTMLParser):
    """The visible text outside <details>, each <pre>'s enclosing tags, and every figure's attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[tuple[str, dict[str, str | None]]] = []
        self.outside: list[str] = []
        self.pres: list[list[tuple[str, dict[str, str | None]]]] = []
        self.figures: list[dict[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        if tag == "pre":
            self.pres.append(list(self.stack))
        if tag == "figure":
            self.figures.append(dict(attrs))
        if tag not in ("meta", "br", "img"):
            self.stack.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        while self.stack:
            if self.stack.pop()[0] == tag:
                break

    def handle_data(self, data):
        if not any(t in ("details", "style", "title") for t, _ in self.stack):
            self.outside.append(data)

    @property
    def text(self) -> str:
        return re.sub(r"\s+", " ", " ".join(self.outside))


def _parse(page: str) -> _Page:
    parsed = _Page()
    parsed.feed(page)
    return parsed


def _labelled(value: float, reference: float = 0.762) -> dict:
    drop = (reference - value) / reference
    return {
        "primary": "roc_auc",
        "metrics": {"roc_auc": value, "accuracy": 0.70},
        "reference": reference,
        "reference_metrics": {"roc_auc": reference, "accuracy": 0.70},
        "floors": {"roc_auc": 0.6},
        "below_floors": {},
        "relative_drop": drop,
        "performance_breach": drop > 0.05,
        "judged": True,
        "delivered_rows": 900,
        "unlabelled_rows": 0,
        "nonfinite_scores": 0,
        "slices": {},
        "by_source": {},
    }


def _report(labelled: dict, expected_accuracy: float, data_drift: dict | None = None) -> dict:
    return {
        "dataset": "voter_turnout",
        "window_id": "s-003",
        "rows": 900,
        "model_name": "voter_turnout_model",
        "model_version": "2",
        "thresholds": {"max_relative_drop": 0.05, "estimated_accuracy_drop": 0.05},
        "served": None,
        "labelled": labelled,
        "labelled_status": "window s-003 (served by v2): joined",
        "estimate": {
            "expected_accuracy": expected_accuracy,
            "low": expected_accuracy - 0.01,
            "high": expected_accuracy + 0.01,
            "rows": 900,
            "reference": 0.74,
            "drop": 0.74 - expected_accuracy,
            "breach": False,
        },
        "data_drift": data_drift,
        "signals": [],
        "reasons": [],
    }


def _render(tmp_path, report: dict, plot: dict | None = None) -> str:
    plot = plot or {"profile": {"numeric": {}, "categorical": {}}, "frame": pd.DataFrame({"a": [1.0]}), "scores": None}
    return window_page.render_window_report(report, {"action": "none", "why": "no breach"}, plot, tmp_path).read_text()


def test_a_rise_reads_above_and_a_fall_reads_below_with_unsigned_magnitudes(tmp_path):
    rose = _parse(_render(tmp_path / "up", _report(_labelled(0.770), expected_accuracy=0.742))).text
    assert "roc_auc 0.770 is 1.0% above the champion's reference 0.762 (better)" in rose
    assert "a rise of 0.002" in rose
    fell = _parse(_render(tmp_path / "down", _report(_labelled(0.754), expected_accuracy=0.738))).text
    assert "roc_auc 0.754 is 1.0% below the champion's reference 0.762 (worse)" in fell
    assert "a drop of 0.002" in fell
    for text in (rose, fell):
        assert "-1.0%" not in text and "of -0." not in text


def test_no_raw_json_outside_a_collapsed_details_block(tmp_path):
    page = _parse(_render(tmp_path, _report(_labelled(0.770), expected_accuracy=0.742)))
    assert page.pres, "the figures stay available, collapsed"
    for enclosing in page.pres:
        details = [attrs for tag, attrs in enclosing if tag == "details"]
        assert details and all("open" not in attrs for attrs in details)
    assert '{"' not in page.text and '"window_id"' not in page.text
    assert "max-width" in _render(tmp_path / "again", _report(_labelled(0.770), expected_accuracy=0.742))


def test_a_binary_and_a_few_valued_feature_are_drawn_as_bars_a_continuous_one_as_a_cdf(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    rng = np.random.default_rng(3)
    reference = pd.DataFrame(
        {
            "voted_before": rng.integers(0, 2, 2000).astype(float),
            "household_size": rng.integers(1, 6, 2000).astype(float),
            "age": rng.normal(45, 12, 2000),
        }
    )
    window = pd.DataFrame(
        {
            "voted_before": (rng.random(800) < 0.8).astype(float),
            "household_size": rng.integers(1, 4, 800).astype(float),
            "age": rng.normal(52, 12, 800),
        }
    )
    profile = {"numeric": {c: drift.profile_numeric(reference[c]) for c in reference}, "categorical": {}}
    columns = {
        c: {"kind": "numeric", "p_value": 1e-9, "p_adjusted": 3e-9, "effect": 0.4, "psi": 0.3, "drifted": True}
        for c in reference
    }
    report = _report(_labelled(0.77), 0.742, {"drifted": list(reference), "columns": columns})
    page = _parse(_render(tmp_path, report, {"profile": profile, "frame": window, "scores": None}))
    kinds = [f.get("data-kind") for f in page.figures]
    assert kinds == ["bars", "bars", "cdf"]  # voted_before, household_size, age
    shares = reports.value_shares(profile["numeric"]["voted_before"], window["voted_before"].to_numpy())
    assert list(shares.index) == ["0", "1"]
    assert shares["reference"].sum() == pytest.approx(1.0) and shares["current"].sum() == pytest.approx(1.0)
    assert shares.loc["1", "current"] == pytest.approx(window["voted_before"].mean())


@pytest.mark.parametrize(
    ("value", "spec", "shown"),
    [
        (0.34925925925925927, "", "0.349"),
        (0.34925925925925927, "%", "34.9%"),
        (123456.0, "", "123,456"),
        (0.0000123, "", "1.23e-05"),  # a p-value: no ordinary magnitude
        (0.0123, "", "0.012"),
        (0.000123, "", "0.000123"),
        (12.34, "", "12.3"),
        (-0.04, "", "-0.040"),
        (-0.002, "+", "-0.002"),
        (0.002, "+", "+0.002"),
        (float("nan"), "", "n/a"),
        (np.float64(0.76), "", "0.760"),
        (np.int64(4000), "", "4000"),
        (None, "", ""),
    ],
)
def test_one_plain_number_formatter(value, spec, shown):
    assert reports.format_value(value, spec) == shown


def test_a_rendered_report_has_no_scientific_notation_or_unrounded_share(tmp_path):
    lab = _labelled(0.76312345678)
    lab["slices"] = {
        "age": {"18-29": {"rows": 120, "positive_rate": 0.34925925925925927, "mean_score": 0.41, "roc_auc": 0.7123456}}
    }
    lab["reference_slices"] = {"age": {"18-29": {"roc_auc": 0.71000000001}}}
    text = _parse(_render(tmp_path, _report(lab, expected_accuracy=0.742))).text
    assert not re.search(r"\d\.?\d*e[+-]\d", text), text
    decimals = re.findall(r"\d+\.\d+", text)
    assert decimals and all(len(d.replace(".", "").lstrip("0")) <= 3 for d in decimals), decimals
    assert "0.349" in text


def test_the_scoring_report_keeps_its_manifest_collapsed(tmp_path):
    from modelops.score.report import render_scoring_report

    manifest = {
        "dataset": "voter_turnout",
        "snapshot": "s-001",
        "model_name": "voter_turnout_model",
        "model_version": "1",
        "alias": "champion",
        "served_version": "1",
        "challenger_version": None,
        "shadow": False,
        "scored_at": "2028-10-01T12:00:00+00:00",
        "rows_in": 4000,
        "rows_out": 4000,
        "threshold": 0.5,
        "sources": {"model": 3000, "canary": 0, "fallback": 1000},
        "fallback_reasons": {"missing:q1": 1000},
        "fallback_share": 0.25,
        "alerts": [],
        "agreement": None,
    }
    page = _parse(render_scoring_report(manifest, tmp_path / "report.html").read_text())
    assert page.pres and all(any(tag == "details" for tag, _ in enclosing) for enclosing in page.pres)
    assert '"rows_in"' not in page.text
