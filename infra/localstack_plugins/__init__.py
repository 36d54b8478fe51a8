"""LocalStack plugins for running Yiwang's template on LocalStack without Docker (an installable
package, `yiwang_localstack`, with its own pyproject.toml); the embedded cloud imports its
moto-only transaction rollback from here too."""
