"""Govern: promotion and approvals, reproduction, model cards."""
