"""Inbound: a provider's webhook → parsed, authenticated, routed to a company, stored once, answer queued."""
