"""Election forecasts from voter-level scores: aggregation by geography with intervals, backtests against
certified results, and the per-geography logit shift that calibrates scores to them."""
