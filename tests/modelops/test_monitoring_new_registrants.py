"""A labelled window's new registrants (`scoring.new_registrants`): the served model's error on them against the
rest, on the labelled rows it scored; reported, never a signal. Known answers on a hand-built frame."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest

from modelops.config.settings import load_settings


def test_a_labelled_window_reports_the_new_registrants_error_against_the_rest():
    """New registrants (years_registered <= 0): ids 1-4, id 4 served by the fallback; the rest: 5-8, all by the
    model. Brier on the model's labelled rows: new (0.1^2 + 0.4^2 + 0.7^2) / 3, rest 0.2^2 each."""
    from modelops.monitor.labelled import new_registrant_errors

    spec = load_settings().dataset("voter_turnout")
    frame = pd.DataFrame(
        {
            "voter_id": range(1, 9),
            "years_registered": [0, 0, 0, 0, 5, 5, 5, 5],
            "served_id": [str(i) for i in range(1, 9)],
            "served_source": ["model", "model", "model", "fallback", "model", "model", "model", "model"],
            "served_champion_score": [0.9, 0.6, 0.7, 0.5, 0.8, 0.2, 0.8, 0.2],
            "voted": [1, 0, 0, 1, 1, 0, 1, 0],
        }
    )
    found = new_registrant_errors(spec, frame)
    assert found["computed"] and found["rule"] == "years_registered <= 0"
    new, rest = found["new"], found["rest"]
    assert (new["rows"], new["model_rows"], new["fallback_rows"], new["labelled"]) == (4, 3, 1, 3)
    assert (rest["rows"], rest["model_rows"], rest["labelled"]) == (4, 4, 4)
    assert new["brier"] == pytest.approx((0.01 + 0.36 + 0.49) / 3)
    assert rest["brier"] == pytest.approx(0.04) and rest["roc_auc"] == 1.0
    assert found["gaps"]["brier"] == pytest.approx((0.01 + 0.36 + 0.49) / 3 - 0.04)

    without = dataclasses.replace(spec, scoring=spec.scoring.model_copy(update={"new_registrants": None}))
    assert new_registrant_errors(without, frame) is None
    missing = new_registrant_errors(spec, frame.drop(columns=["years_registered"]))
    assert missing["computed"] is False and "years_registered" in missing["reason"]
