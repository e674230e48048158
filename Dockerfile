# suggest_api: `docker build -t suggest-api .`, then `docker run -p 127.0.0.1:8000:8000 suggest-api`.
# Keys are required (SUGGEST_AUTH=required): `docker exec <container> suggest-api teams create NAME`, then
# `docker exec <container> suggest-api keys create --team NAME --role admin` (see docs/operations.md: Teams, keys and quotas).

# --- builder: the project and every dependency as wheels --------------------------------------
FROM python:3.11-slim AS builder
WORKDIR /src
COPY pyproject.toml README.md ./
COPY suggest_api ./suggest_api
RUN pip wheel --no-cache-dir --wheel-dir /wheels .

# --- runtime: install the wheels only, run as a non-root user ---------------------------------
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    SUGGEST_HOST=0.0.0.0 \
    SUGGEST_PORT=8000 \
    SUGGEST_AUTH=required \
    SUGGEST_DATABASE_URL=sqlite:////data/suggest.db
RUN useradd --create-home --uid 10001 suggest \
    && mkdir /data \
    && chown suggest:suggest /data
COPY --from=builder /wheels /wheels
RUN pip install --no-cache-dir --no-index --find-links=/wheels suggest-api \
    && rm -rf /wheels
USER suggest
WORKDIR /data
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SUGGEST_PORT', '8000'), timeout=4)"]
CMD ["suggest-api", "serve"]
