"""WSGI entry point: `gunicorn wsgi:app`, `flask --app wsgi ...`."""

from casemgr import create_app

app = create_app()
