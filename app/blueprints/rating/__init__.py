from app.blueprints.rating.routes import bp  # noqa: F401
