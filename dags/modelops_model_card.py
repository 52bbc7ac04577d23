"""
### ModelOps model card, on demand

Make (or remake) the model card of any registered version, also after its split files were cleaned
up (the holdout is then rebuilt from the recorded batch).

**Trigger with parameters**: `model_name` (e.g. `voter_turnout_model`; empty: the default dataset's model)
and `version` (a number, or an
alias: `champion`, `challenger`).

**Outputs**: `card.md` and a self-contained `card.html` under `cards/<dataset>/<model>/<version>/` in the
workspace, logged on the version's MLflow run (`model_card/`) and linked from its tags `modelops.card`
and `modelops.card_path`. Running it again replaces the card. The training DAG makes the card of every
version it registers (task `model_card`).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from airflow.sdk import Param, dag, get_current_context, task

from modelops.core.handoffs import CARD_TASK_ID, MODEL_CARD_DAG_ID
from modelops_airflow.defaults import make_default_args, model_name_param
from modelops_airflow.runtime import model_name_or_default, read_settings

default_args = make_default_args(execution_timeout=timedelta(minutes=20))


@dag(
    dag_id=MODEL_CARD_DAG_ID,
    doc_md=__doc__,
    schedule=None,
    start_date=datetime(2026, 1, 1),
    catchup=False,
    max_active_runs=1,
    tags=["modelops", "governance"],
    default_args=default_args,
    params={
        "model_name": model_name_param("Registered model name."),
        "version": Param(type="string", minLength=1, description="Version number, or an alias (champion, challenger)."),
    },
)
def modelops_model_card():
    @task(task_id=CARD_TASK_ID)
    def model_card() -> dict:
        """Write the version's card, log it on its run and link it from its tags."""
        from airflow.sdk.exceptions import AirflowFailException

        from modelops.govern.cards import CardError, build_card, resolve_version

        params = get_current_context()["params"]
        settings, model_name = read_settings(), model_name_or_default(params["model_name"])
        try:
            version = resolve_version(model_name, params["version"])
            return build_card(model_name, version, settings)
        except CardError as exc:  # no such version, or its record is gone: retrying cannot help
            raise AirflowFailException(str(exc)) from exc

    model_card()


modelops_model_card()
