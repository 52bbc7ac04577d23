"""The Airflow side of ModelOps: what DAG files share (default_args, Params).

It may import `modelops` and Airflow; `modelops` never imports it (pyproject.toml's import contract).
"""
