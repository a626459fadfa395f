"""The domain's vocabulary and pure rules: no database, no network, no clock.

``states`` (task states and the state machine), ``messages`` (message kinds, outbox statuses,
channels) and ``labels`` (every Chinese label people read, one table per vocabulary) are
imported by the core, the notifications, the workflows and the interfaces alike.
"""
