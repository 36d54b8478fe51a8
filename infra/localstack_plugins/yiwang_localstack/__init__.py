"""Yiwang's LocalStack plugins: a DynamoDB provider over moto, and a Lambda runtime executor
that runs functions as host processes (no Docker)."""
