# One image for the API (gunicorn), the Celery worker and beat, push and publisher: the compose
# files choose the command. The builder resolves nothing: it installs exactly the hashes in
# poetry.lock. No `# syntax=` line: it would make every BuildKit build fetch a frontend image.

# Overridable (`--build-arg`), e.g. for a registry mirror.
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /build
RUN pip install --no-cache-dir "poetry==2.5.1" "poetry-plugin-export==1.10.1"
COPY pyproject.toml poetry.lock ./
# Main dependencies only: test tools stay out of the runtime image. pyproject.toml declares
# README.md as the readme and `poetry check` wants the file; its text does not matter here,
# and copying the real one would rebuild this layer on every change to the docs.
RUN touch README.md \
    && poetry check --lock \
    && poetry export --only main --format requirements.txt --output requirements.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --require-hashes -r requirements.txt

FROM ${PYTHON_IMAGE} AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=secure_my_spot.settings.base \
    PORT=8000
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /app app
WORKDIR /app
COPY --from=builder /opt/venv /opt/venv
COPY . .
# The static volume of the deploy stack is seeded from this directory, so the app user owns it.
# The key below exists only for this command (settings refuse DEBUG off without one); nothing
# secret is baked into a layer.
RUN DEBUG=false SECRET_KEY=collectstatic-at-build-time-only \
        python manage.py collectstatic --no-input --verbosity 0 \
    && chown -R app:app /app/staticfiles
USER 10001:10001
EXPOSE 8000
# Probes /healthz on $PORT, the port this container serves (push sets 8001); worker and beat
# override it in the compose files.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "/app/bin/healthcheck"]
CMD ["sh", "-c", "exec gunicorn secure_my_spot.wsgi --bind 0.0.0.0:${PORT} --workers ${WEB_CONCURRENCY:-3} --access-logfile - --forwarded-allow-ips='*'"]
