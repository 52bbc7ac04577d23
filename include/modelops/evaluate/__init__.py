"""Evaluate: the champion comparison, slices, fairness and the promotion verdict."""
