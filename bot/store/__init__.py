"""Storage: the schema and its migrations, engines and sessions, the embedded Valkey, Redis
leases and the audit log. Imports only the contract."""
