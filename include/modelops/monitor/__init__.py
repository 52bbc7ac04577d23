"""Monitor: measuring a scored window against the version that served, and the operational checks."""
