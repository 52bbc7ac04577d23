"""Pipelines: the training and monitoring steps the DAGs call, composing the stages."""
