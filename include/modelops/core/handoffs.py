"""Names other DAGs and tools rely on, declared once (DAG ids, asset URIs, task ids)."""

TRAINING_DAG_ID = "modelops_training"
MONITORING_DAG_ID = "modelops_monitoring"
# The monitoring DAG's fixed tick; each dataset's schedule (config) says which ticks judge it.
MONITORING_TICK = "@daily"
PROMOTION_DAG_ID = "modelops_promotion"
MODEL_CARD_DAG_ID = "modelops_model_card"  # on demand: the card of any registered version

# The only actors that may move the `champion` alias (registry.set_alias refuses any other).
CHAMPION_MOVERS = (TRAINING_DAG_ID, PROMOTION_DAG_ID)

# Emitted when a new champion is promoted; its extra carries model name and version.
# "x-" marks a private scheme: Airflow skips provider URI normalizers (and their parse-time imports).
CHAMPION_ASSET_URI = "x-modelops://registry/champion"

PROMOTE_TASK_ID = "promote_champion"
KEEP_TASK_ID = "mark_challenger"
# The human approval (Airflow Required Actions) before `champion` moves: training DAG (when
# promotion.require_approval is on) and promotion DAG.
APPROVAL_TASK_ID = "approve_promotion"

# The model card of the registered version (training DAG, after register; on-demand card DAG).
CARD_TASK_ID = "model_card"

# The training run's Markdown note (decision, metric vs champion, card link): `summarize` pushes it as an XCom
# under this key, the run-note listener (plugins/modelops_run_note.py) makes it the DAG run's note.
SUMMARY_TASK_ID = "summarize"
RUN_NOTE_XCOM_KEY = "run_note"
# Where the Model monitor (plugins/modelops_monitor.py) is mounted on the Airflow API server.
MONITOR_URL_PREFIX = "/modelops-monitor"

RETRAIN_TASK_ID = "trigger_retraining"
# The monitoring DAG's task group mapped over the datasets it judges: its tasks are `judge.<task>`.
JUDGE_GROUP_ID = "judge"
NO_ACTION_TASK_ID = "no_action"

SCORING_DAG_ID = "modelops_scoring"
SNAPSHOT_DAG_ID = "modelops_register_snapshot"
# Emitted when a voter-file snapshot is registered; its extra carries {dataset, snapshot, input}.
SNAPSHOT_ASSET_URI = "x-modelops://production/snapshots"

# Rebuilds a registered version from its record and checks its holdout predictions (reproduce.py).
REPRODUCE_DAG_ID = "modelops_reproduce"

# One row's debug record on demand: its stages, checks, score and what moved it (score/debug_row.py).
DEBUG_ROW_DAG_ID = "modelops_debug_row"

# Sums two datasets' scores of a snapshot into a forecast by geography, backtested against certified results.
FORECAST_DAG_ID = "modelops_forecast"
