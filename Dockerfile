# syntax=docker/dockerfile:1
# The hub's image: Airflow 3 + the hub, installed only from the hash-pinned lock files.

# --- build: a virtualenv filled from requirements.lock (hashes required), then the hub ---
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY requirements-bootstrap.lock requirements.lock ./
# uv itself comes from its own hash-pinned lock; it then installs exactly requirements.lock
# (install, not sync: sync would remove pip, setuptools and uv from the fresh venv).
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes --no-deps -r requirements-bootstrap.lock \
    && /opt/venv/bin/uv pip install --python /opt/venv/bin/python --require-hashes \
        -r requirements.lock
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY schemas ./schemas
COPY transforms ./transforms
COPY connectors ./connectors
COPY sandbox ./sandbox
# Every dependency is already in place from the lock: install the hub alone, building it
# with the venv's own setuptools (no unpinned download of a build backend).
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation .

# --- runtime ---
FROM python:3.11-slim
RUN useradd --create-home --uid 50000 --gid 0 --home-dir /home/airflow airflow \
    && install -d -o airflow -g 0 -m 0775 /opt/airflow /var/lib/hub
COPY --from=build /opt/venv /opt/venv
COPY --chown=airflow:0 dags /opt/hub/dags
COPY --chown=airflow:0 config /opt/hub/config
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/hub/dags \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    HUB_PROJECT_DIR=/opt/hub \
    HUB_CONFIG_DIR=/opt/hub/config \
    HUB_HOME=/var/lib/hub
USER airflow
WORKDIR /opt/hub
CMD ["airflow", "version"]
