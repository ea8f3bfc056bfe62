# syntax=docker/dockerfile:1
# The hub's images, installed only from the hash-pinned lock files:
#   runtime (the default, last stage): Airflow 3 + the hub, runtime dependencies only
#     (requirements-runtime.lock: no test tools, linters or sandbox), the ops plugin through
#     its airflow.plugins entry point, the DAGs; partner config is mounted, never baked in.
#   sandbox (--target sandbox): runtime + the sandbox systems (Tryton...) for the demo stack.

# --- build: a virtualenv filled from a lock (hashes required), then the hub ---
FROM python:3.11-slim AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    UV_NO_CACHE=1 \
    UV_PYTHON_DOWNLOADS=never
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY requirements-bootstrap.lock requirements-runtime.lock requirements.lock ./
# uv itself comes from its own hash-pinned lock; it then installs exactly the runtime lock
# (install, not sync: sync would remove pip and uv from the fresh venv). The runtime lock
# also pins setuptools and wheel (requirements-image.in), which build the hub below.
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes --no-deps -r requirements-bootstrap.lock \
    && /opt/venv/bin/uv pip install --python /opt/venv/bin/python --require-hashes \
        -r requirements-runtime.lock
COPY pyproject.toml README.md ./
COPY hub ./hub
COPY schemas ./schemas
COPY transforms ./transforms
COPY connectors ./connectors
COPY sandbox ./sandbox
# Every dependency is already in place from the lock: install the hub alone, building it
# with the venv's own setuptools (no unpinned download of a build backend). The sandbox
# package is removed again: the runtime image has no sandbox (its commands disappear).
RUN /opt/venv/bin/pip install --no-deps --no-build-isolation . \
    && rm -rf /opt/venv/lib/python3.11/site-packages/sandbox

# --- the sandbox's extra dependencies (trytond...) on top, from the full lock ---
FROM build AS build-sandbox
RUN /opt/venv/bin/uv pip install --python /opt/venv/bin/python --require-hashes \
        -r requirements.lock \
    && /opt/venv/bin/pip install --no-deps --no-build-isolation --force-reinstall .

# --- common runtime base ---
FROM python:3.11-slim AS base
RUN useradd --create-home --uid 50000 --gid 0 --home-dir /home/airflow airflow \
    && install -d -o airflow -g 0 -m 0775 /opt/airflow /opt/airflow/plugins /var/lib/hub \
        /opt/hub/config
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/hub/dags \
    AIRFLOW__CORE__PLUGINS_FOLDER=/opt/airflow/plugins \
    AIRFLOW__CORE__LOAD_EXAMPLES=False \
    HUB_PROJECT_DIR=/opt/hub \
    HUB_CONFIG_DIR=/opt/hub/config \
    HUB_HOME=/var/lib/hub
COPY --chown=airflow:0 dags /opt/hub/dags
WORKDIR /opt/hub

# --- sandbox image: the demo stack's Tryton and friends ---
FROM base AS sandbox
COPY --from=build-sandbox /opt/venv /opt/venv
USER airflow
CMD ["hub", "sandbox", "--help"]

# --- runtime image (default) ---
FROM base AS runtime
COPY --from=build /opt/venv /opt/venv
USER airflow
CMD ["airflow", "version"]
