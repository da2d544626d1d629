"""Configuration as code: vigil.yaml <-> the database (manage.py import_config / export_config)."""
