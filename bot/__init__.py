"""The intake bot core: domain types, storage, the stream and its worker."""
