# syntax=docker/dockerfile:1
# The GPU worker (`gate worker`): one container per GPU, an OpenAI-compatible API on the
# transformers continuous-batching engine.  PyPI's Linux torch wheels carry their CUDA runtime, so
# the slim Python base is enough; the host needs the NVIDIA driver and container toolkit.  Model
# weights are never baked in: mount them (a model directory or .gguf file) and pass --model.

ARG PYTHON_IMAGE=python:3.11-slim
ARG TORCH_VERSION=2.9.1

FROM ${PYTHON_IMAGE} AS build
ARG TORCH_VERSION
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
WORKDIR /src
RUN python -m venv /opt/gate \
    && /opt/gate/bin/pip install --no-cache-dir "torch==${TORCH_VERSION}"
COPY pyproject.toml README.md ./
COPY gate ./gate
COPY puzzles ./puzzles
COPY operator_state ./operator_state
COPY serving ./serving
COPY middleware ./middleware
COPY mcp_server ./mcp_server
COPY admin ./admin
RUN /opt/gate/bin/pip install --no-cache-dir ".[worker]" \
    && /opt/gate/bin/gate worker --help > /dev/null

FROM ${PYTHON_IMAGE} AS runtime
RUN groupadd --system --gid 10001 gate \
    && useradd --system --uid 10001 --gid gate --home-dir /var/lib/gate --create-home \
       --shell /usr/sbin/nologin gate
COPY --from=build /opt/gate /opt/gate
COPY deploy/healthcheck.py /opt/gate/healthcheck.py
ENV PATH=/opt/gate/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    GATE_STATE_DIR=/var/lib/gate \
    HF_HUB_OFFLINE=1 \
    HEALTHCHECK_URL=http://127.0.0.1:8000/health
WORKDIR /var/lib/gate
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=5s --start-period=120s --retries=5 \
    CMD ["python", "/opt/gate/healthcheck.py"]
ENTRYPOINT ["gate", "worker"]
CMD ["--random-init", "llama", "--device", "cuda", "--host", "0.0.0.0", "--port", "8000"]
