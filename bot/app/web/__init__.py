"""The aiohttp app: routes grouped per concern, one module each."""
