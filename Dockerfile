# The image of every Airflow service (api-server, scheduler, dag-processor, triggerer, Celery worker,
# airflow-init) and of the MLflow server: the exact pins of requirements.txt, then the project itself
# (editable, so `import modelops` works and include/config and include/data stay where the code expects).
FROM python:3.11-slim-bookworm

ARG AIRFLOW_UID=50000
# the commit the image was built from, recorded on every model version (there is no .git in the image):
#   docker compose build --build-arg MODELOPS_GIT_COMMIT=$(git rev-parse HEAD) \
#     --build-arg MODELOPS_GIT_DIRTY=$(test -z "$(git status --porcelain)" && echo false || echo true)
# The production profile trains only from an image built from a known commit of a clean checkout
# (MODELOPS_GIT_DIRTY=false; see docs/governance.md, "Specs reviewed and checked in").
ARG MODELOPS_GIT_COMMIT=unknown
ARG MODELOPS_GIT_DIRTY=unknown

ENV PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 \
    AIRFLOW_HOME=/opt/airflow \
    MODELOPS_GIT_COMMIT=${MODELOPS_GIT_COMMIT} \
    MODELOPS_GIT_DIRTY=${MODELOPS_GIT_DIRTY}

# tini reaps the task processes and forwards SIGTERM (a Celery warm shutdown); the PostgreSQL client
# library comes inside psycopg2-binary's wheel. uid 50000, group 0: the convention of Airflow's images.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --uid "${AIRFLOW_UID}" --gid 0 --home-dir /opt/airflow --create-home --shell /bin/bash airflow

RUN pip install --no-cache-dir uv==0.13.9

# dependencies first: this layer is rebuilt only when the pins change
COPY requirements.txt /opt/modelops/requirements.txt
RUN uv pip install --system --compile-bytecode -r /opt/modelops/requirements.txt

# the code stays root-owned (read-only for the services); its bytecode is compiled here because the
# airflow user cannot write __pycache__ next to it. The mount points exist, owned by the airflow user,
# so fresh named volumes inherit that ownership.
COPY . /opt/modelops
RUN uv pip install --system --no-deps -e /opt/modelops \
    && python -c "import modelops.config; print('modelops config at', modelops.config.DEFAULT_CONFIG_PATH)" \
    && python -m compileall -q /opt/modelops/include /opt/modelops/dags /opt/modelops/plugins /opt/modelops/scripts \
    && mkdir -p /opt/airflow/logs /opt/airflow/auth /opt/modelops/workspace /mlflow/artifacts /mlflow/auth \
    && chown -R "${AIRFLOW_UID}:0" /opt/airflow /opt/modelops/workspace /mlflow \
    && chmod 0700 /opt/airflow/auth

USER ${AIRFLOW_UID}
WORKDIR /opt/modelops
ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["airflow", "version"]
