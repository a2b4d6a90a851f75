# syntax=docker/dockerfile:1
# The gate's image: one image for every role (gate proxy, gate mcp, gate admin serve, gate db
# upgrade, gate demo); compose picks the command.  The GPU worker has its own image
# (deploy/worker.Dockerfile).  Nothing secret is baked in: keys and passwords arrive at run time as
# compose secrets or environment variables.  In production pin the base by digest as well
# (python:3.11-slim@sha256:...), and rebuild when it is patched.

ARG PYTHON_IMAGE=python:3.11-slim

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/gate
# Dependencies first (a layer that changes only when pyproject.toml does), then the code.
COPY pyproject.toml README.md ./
COPY gate ./gate
COPY puzzles ./puzzles
COPY operator_state ./operator_state
COPY serving ./serving
COPY middleware ./middleware
COPY mcp_server ./mcp_server
COPY admin ./admin
RUN /opt/gate/bin/pip install --no-cache-dir . \
    && /opt/gate/bin/gate --help > /dev/null

FROM ${PYTHON_IMAGE} AS runtime
LABEL org.opencontainers.image.title="reasoning-gate" \
      org.opencontainers.image.description="Make AI agents pay for access with reasoning puzzles." \
      org.opencontainers.image.licenses="Apache-2.0"
# /var/lib/gate-secrets belongs to the gate user: a new named volume mounted there starts with
# that owner, so the first start's secrets job (deploy/first_start.py) can write it.
RUN groupadd --system --gid 10001 gate \
    && useradd --system --uid 10001 --gid gate --home-dir /var/lib/gate --create-home \
       --shell /usr/sbin/nologin gate \
    && install -d -o 10001 -g 10001 -m 0755 /var/lib/gate-secrets
COPY --from=build /opt/gate /opt/gate
COPY deploy/healthcheck.py deploy/first_start.py /opt/gate/
ENV PATH=/opt/gate/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GATE_STATE_DIR=/var/lib/gate
WORKDIR /var/lib/gate
USER 10001:10001
EXPOSE 8080
# Any HTTP answer below 500 means the server is up; compose sets the URL of each role.
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "/opt/gate/healthcheck.py"]
ENTRYPOINT ["gate"]
CMD ["demo", "--host", "0.0.0.0", "--port", "8080"]
