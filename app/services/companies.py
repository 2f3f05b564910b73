"""Companies (tenants): created with a unique slug and a first API key."""

from __future__ import annotations

from sqlalchemy import select

from ..infra.extensions import db
from ..infra.models import ApiKey, Company, slugify


def unique_slug(name: str) -> str:
    base = slugify(name)
    slug, n = base, 2
    while db.session.scalars(select(Company).where(Company.slug == slug)).first() is not None:
        slug, n = f"{base}-{n}", n + 1
    return slug


def create_company(name: str) -> tuple[Company, str]:
    """A new company and its first API key (the plaintext, to show once)."""
    company = Company(name=name.strip(), slug=unique_slug(name))
    db.session.add(company)
    db.session.flush()
    _, key = ApiKey.issue(company)
    db.session.flush()
    return company, key
