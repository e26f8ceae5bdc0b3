"""asyncio sessions of the reference client, one module per protocol."""
