"""Score: batch scoring with the per-row rule fallback, and what it writes."""
