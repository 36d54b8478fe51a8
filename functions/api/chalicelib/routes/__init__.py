"""One blueprint per part of the HTTP contract (openapi.yaml)."""
