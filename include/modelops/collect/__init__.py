"""Collect: safe readers, batches, snapshots, scored windows, labels, the synthetic world."""
