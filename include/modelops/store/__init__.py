"""Store: all the code that calls MLflow (tracking, runs, artifacts, registry, alias_log) and the audit DB (history)."""
