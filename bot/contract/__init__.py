"""The contract every part of the bot shares: domain types, ports, errors, the clock, the
Redis key layout, the limiter and the bounded JSON reader.

It imports nothing of ours but itself; channels/ and moderation/ import only this.
"""
