"""One-off data migrations, each a module run as `python -m infra.migrations.<name>`."""
