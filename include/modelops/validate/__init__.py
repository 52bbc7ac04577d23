"""Validate: the Great Expectations gate a batch passes before anything learns from it or scores it."""
