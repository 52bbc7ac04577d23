"""modelops: the domain library behind the Airflow DAGs. Never imports Airflow."""
