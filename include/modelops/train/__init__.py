"""Train: feature preparation, data splits and the candidate search."""
