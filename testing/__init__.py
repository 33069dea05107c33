"""Support that the test suite (tests/) and the benchmarks (bench/) share: the servers and
processes they start (localstripe, an SMTP server, Celery workers), free ports and polling,
and the model factories.

Test-only: the service never imports it and the image leaves it out (.dockerignore). pytest's
fixtures over it stay in tests/ (tests/conftest.py registers them).
"""
