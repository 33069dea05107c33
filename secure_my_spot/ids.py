"""Ids that public routes and answers show: random, so no row is found by counting."""

import secrets


def new_public_id() -> str:
    """128 random bits, URL-safe (22 characters)."""
    return secrets.token_urlsafe(16)
