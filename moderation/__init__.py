"""Anti-abuse stages of the stream: the Redis throttle and the toxicity classifier."""
