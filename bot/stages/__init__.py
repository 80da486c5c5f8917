"""The stream's stages: ingest, the Redis stream, the worker and its pipeline, the sender."""
