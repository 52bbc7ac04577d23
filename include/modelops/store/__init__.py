"""Store: the only code that talks to MLflow (registry) and the audit database (history)."""
