"""Authentication records the core knows by shape only: server-side sessions, registered DPI clients, one-time
launch tickets and consumed token ids (``jti``). Their checks live at the edge (gateway.auth)."""
