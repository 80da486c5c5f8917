"""The intake bot's core, in layers that import only downward (README: The house plan):

app      the wiring: settings, runtime, channel setup, CLI, replay, web app
staff    moderators' queue, ticket desk, privacy
stages   ingest, stream, worker, pipeline, sender
tickets  identities and claims, ticket lifecycle, replies, ticket views
rules    runtime policy, SLA clocks, what a complaint needs
text     replies' words and languages
store    schema, migrations, sessions, embedded Valkey, leases, audit
contract domain types, ports, errors, clock, Redis keys, limiter (imports nothing of ours)
"""
