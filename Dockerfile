# syntax=docker/dockerfile:1
# rlexec: one image for the daemon (`rlexec run`) and the simulated exchange
# (`rlexec exchange`). Multi-stage: the builder has pip and the build tools, the runtime
# only the finished virtualenv, runs as a dedicated non-root user and carries a
# HEALTHCHECK. Checked in CI without a Docker engine: hadolint plus the rules in
# deploy/checks/check_dockerfile.py (scripts/check_deploy.sh dockerfile).
#
#   docker build -t rlexec:local .
#   docker run --rm rlexec:local config check /etc/rlexec/rlexec.toml

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---------------------------------------------------------------- builder
FROM ${PYTHON_IMAGE} AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

RUN python -m venv /opt/rlexec/.venv
ENV PATH=/opt/rlexec/.venv/bin:$PATH

# torch first, from PyTorch's CPU wheel index. On PyPI the Linux x86_64 torch wheel is
# the CUDA build (several GB of GPU libraries this CPU-only daemon never loads); the CPU
# index serves the same version without them. Installing it before the project means
# the project's `torch>=2.2,<2.15` is already satisfied and pip fetches nothing more.
ARG TORCH_VERSION=2.13.0
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
RUN pip install --no-cache-dir "torch==${TORCH_VERSION}" --index-url "${TORCH_INDEX_URL}"

# The project, built as a wheel and installed non-editable: the image carries no source
# tree, only the installed packages (and their package data).
WORKDIR /src
COPY pyproject.toml README.md ./
COPY core/ core/
COPY gateways/ gateways/
COPY exchange/ exchange/
COPY risk/ risk/
COPY execution/ execution/
COPY signals/ signals/
COPY policies/ policies/
COPY daemon/ daemon/
RUN pip wheel --no-cache-dir --no-deps --wheel-dir /tmp/wheels . \
    && pip install --no-cache-dir /tmp/wheels/rlexec-*.whl \
    && rlexec --help > /dev/null

# ---------------------------------------------------------------- runtime
FROM ${PYTHON_IMAGE} AS runtime

LABEL org.opencontainers.image.title="rlexec" \
      org.opencontainers.image.description="Live optimal-execution daemon and simulated exchange"

# The dedicated user. A fixed uid/gid (10001) so named volumes keep their owner across
# rebuilds; USER below names it numerically so a runtime can verify it is not root.
RUN groupadd --system --gid 10001 rlexec \
    && useradd --system --uid 10001 --gid rlexec --home-dir /var/lib/rlexec \
        --no-create-home --shell /usr/sbin/nologin rlexec \
    && install -d -o rlexec -g rlexec -m 0750 /var/lib/rlexec /var/lib/rlexec-exchange

COPY --from=builder /opt/rlexec/.venv /opt/rlexec/.venv
COPY --chmod=0755 deploy/bin/secret_env.py /usr/local/bin/rlexec-secret-env
COPY --chmod=0755 deploy/bin/healthcheck.py /usr/local/bin/rlexec-healthcheck
COPY deploy/examples/rlexec.toml deploy/examples/exchange.toml /etc/rlexec/
# Sample market data for the simulated exchange's replay (see data/*/SOURCES.md);
# RLEXEC_DATA_DIR below points the exchange at it.
COPY data/ /opt/rlexec/data/

# Only settings both processes know may be set here: each process rejects unknown
# RLEXEC__ keys (the daemon's data_dir is set in its config and by compose).
ENV PATH=/opt/rlexec/.venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    RLEXEC_DATA_DIR=/opt/rlexec/data \
    RLEXEC__LOGGING__FORMAT=json

USER 10001:10001
WORKDIR /var/lib/rlexec

# 9464: daemon /metrics /healthz /readyz; 9878: exchange FIX acceptor; 8765: exchange
# market-data websocket.
EXPOSE 9464 9878 8765

# Liveness of the daemon's HTTP endpoint; the exchange service overrides the target
# (its own /healthz on the market-data port) in docker-compose.yml.
HEALTHCHECK --interval=10s --timeout=3s --start-period=120s --retries=3 \
    CMD ["rlexec-healthcheck", "--timeout", "2"]

# rlexec-secret-env reads RLEXEC__*__FILE secrets, then exec's rlexec (PID stays the same).
ENTRYPOINT ["rlexec-secret-env", "rlexec"]
CMD ["run", "--config", "/etc/rlexec/rlexec.toml"]
