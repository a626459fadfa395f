"""Use cases. Each takes a session and keyword arguments; the caller owns the transaction."""
