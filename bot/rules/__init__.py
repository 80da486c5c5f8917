"""What the company decides: the runtime policy (channels, limits, thresholds), the SLA's
business-day clocks, and the details a complaint needs."""
