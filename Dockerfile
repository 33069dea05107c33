# syntax=docker/dockerfile:1
# One image for the API (gunicorn), the Celery worker and beat: the compose files choose the
# command. The builder resolves nothing: it installs exactly the hashes in poetry.lock.

FROM python:3.11-slim-bookworm AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /build
RUN pip install --no-cache-dir "poetry==2.5.1" "poetry-plugin-export==1.10.1"
COPY pyproject.toml poetry.lock ./
# Main dependencies only: test tools stay out of the runtime image.
RUN poetry check --lock \
    && poetry export --only main --format requirements.txt --output requirements.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir --require-hashes -r requirements.txt

FROM python:3.11-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=secure_my_spot.settings
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
# Sends the public host name and the proxy's scheme header so neither ALLOWED_HOSTS nor
# SECURE_SSL_REDIRECT turns the probe away. Worker and beat override it in the compose files.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as u; host = os.environ.get('ALLOWED_HOSTS', 'localhost').split(',')[0].strip().lstrip('.'); u.urlopen(u.Request('http://127.0.0.1:8000/healthz', headers={'Host': host, 'X-Forwarded-Proto': 'https'}), timeout=4)"]
CMD ["sh", "-c", "exec gunicorn secure_my_spot.wsgi --bind 0.0.0.0:8000 --workers ${WEB_CONCURRENCY:-3} --access-logfile - --forwarded-allow-ips='*'"]
