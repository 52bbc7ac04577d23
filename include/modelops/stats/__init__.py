"""Statistics: profiles, drift tests, multivariate drift, metrics. Plain numbers in, values and verdicts out."""
