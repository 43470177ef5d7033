# imagine gateway / worker image: slim, non-root, hash-pinned dependencies, a health check.
# Build: docker build -t imagine .   Run: see compose.yaml and README "Running several replicas".

FROM python:3.11-slim-bookworm AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
WORKDIR /src
RUN python -m venv /opt/imagine
# Exactly the tested versions, each checked against its hash; then the project, no deps.
COPY requirements.lock ./
RUN /opt/imagine/bin/pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY src ./src
RUN /opt/imagine/bin/pip install --no-deps . \
    && /opt/imagine/bin/python -m compileall -q /opt/imagine

FROM python:3.11-slim-bookworm
LABEL org.opencontainers.image.title="imagine" \
      org.opencontainers.image.description="Self-hostable image-editing HTTP API"
RUN groupadd --system --gid 10001 imagine \
    && useradd --system --uid 10001 --gid imagine --home-dir /data --shell /usr/sbin/nologin imagine \
    && mkdir -p /data \
    && chown imagine:imagine /data
COPY --from=build /opt/imagine /opt/imagine
ENV PATH=/opt/imagine/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    IMAGINE_HOST=0.0.0.0 \
    IMAGINE_PORT=8000 \
    IMAGINE_DATA_DIR=/data \
    IMAGINE_LOG_FORMAT=json
USER 10001:10001
WORKDIR /data
EXPOSE 8000
# No curl in a slim image: the standard library asks /healthz (the worker overrides this).
HEALTHCHECK --interval=15s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen(f\"http://127.0.0.1:{os.environ.get('IMAGINE_PORT', '8000')}/healthz\", timeout=4)"]
ENTRYPOINT ["imagine"]
CMD ["serve"]
