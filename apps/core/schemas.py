from django.db import connection


def current_schema() -> str:
    """The PostgreSQL schema (instance) the current connection works in."""
    return str(connection.schema_name)  # type: ignore[attr-defined]  # django-tenants adds it
