"""The WSGI entry point, ``gunicorn publisher.wsgi:application``: :mod:`publisher.site.wsgi`."""

from publisher.site.wsgi import application

__all__ = ["application"]
