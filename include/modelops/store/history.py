"""Audit tables kept beside MLflow: which version held which alias, when, why and by whom.

SQLAlchemy Core on `MODELOPS_DB_URL` (default: SQLite in the workspace; PostgreSQL in production).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from modelops.core import catalog

metadata = sa.MetaData()

alias_history = sa.Table(
    "alias_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_name", sa.String(200), nullable=False, index=True),
    sa.Column("alias", sa.String(64), nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("previous_version", sa.String(32)),
    sa.Column("changed_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("run_id", sa.String(250)),
    # What moved it (promote, rollback, training) and the human approval (Airflow's Required
    # Actions) before the move; None when no approval was asked.
    sa.Column("action", sa.String(32)),
    sa.Column("approver", sa.String(200)),
    sa.Column("approved_at", sa.DateTime(timezone=True)),
)


# Every promotion request the promotion DAG decided (approved, refused or timed out), moved or not.
promotion_decisions = sa.Table(
    "promotion_decisions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("model_name", sa.String(200), nullable=False, index=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("version", sa.String(32)),
    sa.Column("previous_version", sa.String(32)),
    sa.Column("decision", sa.String(32), nullable=False),
    sa.Column("approver", sa.String(200)),
    sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("comment", sa.Text),
    sa.Column("run_id", sa.String(250)),
)


monitoring_history = sa.Table(
    "monitoring_history",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("dataset", sa.String(200), nullable=False, index=True),
    sa.Column("window_id", sa.String(200), nullable=False),
    sa.Column("window_end", sa.DateTime(timezone=True), nullable=False),
    sa.Column("model_name", sa.String(200), nullable=False),
    sa.Column("model_version", sa.String(32), nullable=False),
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("data_quality_ok", sa.Boolean, nullable=False),
    sa.Column("drift_share", sa.Float, nullable=False),
    sa.Column("drifted_columns", sa.JSON, nullable=False),
    sa.Column("prediction_psi", sa.Float),
    sa.Column("prediction_drift", sa.Boolean, nullable=False),
    sa.Column("expected_accuracy", sa.Float),
    sa.Column("fallback_share", sa.Float),  # rows served by the baseline / rows
    sa.Column("labeled_window", sa.String(200)),
    sa.Column("labeled_metrics", sa.JSON),
    # the judged labelled window's primary metric with its interval, the version that served it and that
    # version's holdout figure (monitor.offline_online.recorded_interval)
    sa.Column("labeled_interval", sa.JSON),
    sa.Column("breach", sa.Boolean, nullable=False),
    sa.Column("reasons", sa.JSON, nullable=False),
    sa.Column("signals", sa.JSON),  # which signals breached (monitor.signals.names())
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("why", sa.Text),  # the decision in words (e.g. a labelled veto)
    sa.Column("dry_run", sa.Boolean, nullable=False, default=False),
    sa.Column("run_id", sa.String(250)),
    sa.Column("report_path", sa.Text),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
)


def db_url() -> str:
    """Where the audit tables live."""
    default = catalog.audit_db()
    return os.environ.get("MODELOPS_DB_URL", f"sqlite:///{default}")


_engines: dict[str, sa.Engine] = {}
_created: dict[str, frozenset[str]] = {}  # per URL: the tables create_all has seen


def get_engine(url: str | None = None) -> sa.Engine:
    """One engine per URL, with every table of `metadata` created on first use.

    Modules register their own tables here (e.g. `operations`); one imported after the engine was made
    gets its tables on the next call.
    """
    url = url or db_url()
    if url not in _engines:
        if url.startswith("sqlite:///"):
            from pathlib import Path

            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        _engines[url] = sa.create_engine(url)
        _created.pop(url, None)  # a new engine (the DB may be new too): create again
    engine = _engines[url]
    if _created.get(url) != frozenset(metadata.tables):
        metadata.create_all(engine)
        _add_missing_columns(engine)
        _created[url] = frozenset(metadata.tables)
    return engine


def _add_missing_columns(engine: sa.Engine) -> None:
    """Add nullable columns introduced after a table was created (create_all never alters a table)."""
    inspector = sa.inspect(engine)
    for table in metadata.sorted_tables:
        present = {c["name"] for c in inspector.get_columns(table.name)}
        for column in table.columns:
            if column.name not in present and column.nullable:
                kind = column.type.compile(dialect=engine.dialect)
                with engine.begin() as connection:
                    connection.execute(sa.text(f'ALTER TABLE {table.name} ADD COLUMN "{column.name}" {kind}'))


def alias_change(
    connection: sa.Connection,
    model_name: str,
    alias: str,
    version: str,
    previous_version: str | None,
    actor: str,
    reason: str,
    run_id: str | None,
    approver: str | None = None,
    approved_at: datetime | None = None,
    action: str | None = None,
) -> None:
    """Append one alias change inside the caller's transaction."""
    connection.execute(
        alias_history.insert().values(
            model_name=model_name,
            alias=alias,
            version=str(version),
            previous_version=None if previous_version is None else str(previous_version),
            changed_at=datetime.now(UTC),
            actor=actor,
            reason=reason,
            run_id=run_id,
            approver=approver,
            approved_at=approved_at,
            action=action,
        )
    )


def _utc(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back naive; they were written in UTC."""
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def read_alias_history(model_name: str, url: str | None = None, alias: str | None = None) -> list[dict[str, Any]]:
    """Every alias change of a model (of one alias when given), oldest first; timestamps in UTC."""
    query = sa.select(alias_history).where(alias_history.c.model_name == model_name)
    if alias is not None:
        query = query.where(alias_history.c.alias == alias)
    with get_engine(url).connect() as connection:
        rows = [dict(row._mapping) for row in connection.execute(query.order_by(alias_history.c.id))]
    for row in rows:
        row["changed_at"] = _utc(row["changed_at"])
        row["approved_at"] = _utc(row["approved_at"])
    return rows


def record_promotion_decision(row: dict[str, Any]) -> None:
    """Append one decided promotion request (idempotent per model, run and action)."""
    table = promotion_decisions
    with get_engine().begin() as connection:
        connection.execute(
            table.delete().where(
                (table.c.model_name == row["model_name"])
                & (table.c.run_id == row.get("run_id"))
                & (table.c.action == row["action"])
            )
        )
        connection.execute(table.insert().values(**row))


def read_promotion_decisions(model_name: str, url: str | None = None) -> list[dict[str, Any]]:
    """Every decided promotion request of a model, oldest first."""
    table = promotion_decisions
    with get_engine(url).connect() as connection:
        rows = connection.execute(sa.select(table).where(table.c.model_name == model_name).order_by(table.c.id))
        out = [dict(row._mapping) for row in rows]
    for row in out:
        row["decided_at"] = _utc(row["decided_at"])
    return out


def record_window(row: dict[str, Any]) -> None:
    """Append one monitoring window's figures and verdict (idempotent per dataset, window and run)."""
    with get_engine().begin() as connection:
        table = monitoring_history
        connection.execute(
            table.delete().where(
                (table.c.dataset == row["dataset"])
                & (table.c.window_id == row["window_id"])
                & (table.c.run_id == row.get("run_id"))
            )
        )
        connection.execute(table.insert().values(**row, recorded_at=datetime.now(UTC)))


def read_monitoring_history(dataset: str, url: str | None = None) -> list[dict[str, Any]]:
    """Every recorded window of a dataset, oldest first (query it to plot trends)."""
    with get_engine(url).connect() as connection:
        rows = connection.execute(
            sa.select(monitoring_history)
            .where(monitoring_history.c.dataset == dataset)
            .order_by(monitoring_history.c.window_end, monitoring_history.c.id)
        )
        return [dict(row._mapping) for row in rows]
