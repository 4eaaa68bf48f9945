# syntax=docker/dockerfile:1
#
# One image, several commands: the entrypoint is the `aiguillage` CLI, so the same image runs
#   docker run IMAGE                      -> serve (HTTP: API, FHIR, UI) on :8000 — the default CMD
#   docker run IMAGE worker               -> Celery worker
#   docker run IMAGE beat                 -> Celery beat (periodic sweeps)
#   docker run IMAGE mllp                 -> HL7 v2 MLLP listener on :2575
# The HEALTHCHECK probes the HTTP server; disable it for worker / beat / mllp containers
# (`--no-healthcheck`, or `healthcheck: {disable: true}` in compose).

# ---------------------------------------------------------------------------------------------------------------------
# builder: a wheel of the project plus wheels of all its pinned dependencies
# ---------------------------------------------------------------------------------------------------------------------
FROM python:3.11-slim AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

WORKDIR /src
COPY pyproject.toml ./
COPY gateway/ gateway/
COPY mappings/ mappings/
COPY fhir_profiles/ fhir_profiles/
COPY hl7_listeners/ hl7_listeners/
COPY orientation_core/ orientation_core/
COPY ins/ ins/

RUN pip wheel --no-deps --wheel-dir /wheels/project . \
 && pip wheel --wheel-dir /wheels/deps /wheels/project/aiguillage-*.whl

# ---------------------------------------------------------------------------------------------------------------------
# runtime: only the installed wheels, the samples, a non-root user and a writable var/
# ---------------------------------------------------------------------------------------------------------------------
FROM python:3.11-slim AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1

RUN --mount=type=bind,from=builder,source=/wheels,target=/wheels \
    pip install --no-index --find-links /wheels/deps /wheels/project/aiguillage-*.whl

RUN groupadd --system --gid 10001 aiguillage \
 && useradd --system --uid 10001 --gid aiguillage --home-dir /app --no-create-home --shell /usr/sbin/nologin aiguillage \
 && mkdir -p /app/var \
 && chown aiguillage:aiguillage /app/var

WORKDIR /app
COPY --chown=root:root samples/ /app/samples/

# SQLite is the embedded default; mount a volume on /app/var to keep it, or point
# AIGUILLAGE_DATABASE_URL at PostgreSQL (postgresql+psycopg://...).
ENV AIGUILLAGE_SAMPLES_DIR=/app/samples \
    AIGUILLAGE_DATABASE_URL=sqlite:////app/var/aiguillage.db

VOLUME ["/app/var"]
USER aiguillage

# 8000: HTTP (API, FHIR, UI, /healthz, /metrics) — 2575: HL7 v2 over MLLP
EXPOSE 8000 2575

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]

ENTRYPOINT ["aiguillage"]
CMD ["serve", "--host", "0.0.0.0"]
