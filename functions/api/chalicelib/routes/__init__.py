"""One blueprint per part of the HTTP contract (API.md)."""
