"""The contract every part of the bot shares: domain types, ports, errors, the clock, the
Redis key layout, the limiter, the bounded JSON reader, text splitting, the log context
and the translation catalogs' loader.

It imports nothing of ours but itself; channels/ and moderation/ import only this.
"""
