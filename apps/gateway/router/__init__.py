"""The router: where each attempt of a request goes (plan, strategies), how failures are retried and fall
back (attempts), and what the gateway processes know of each deployment's health (health, shared)."""
