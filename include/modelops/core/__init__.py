"""Core: locations, tag names, hand-off records, JSON, hosts, who served, rules, alerts.

Imports nothing else of modelops."""
