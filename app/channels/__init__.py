"""Channel adapters for WhatsApp (Twilio) and email (Postmark).

``inbound/`` turns a provider's webhook into a stored customer message: parse, authenticate,
route to a company, then hand it to ``services/intake.py``. ``outbound/`` sends an assistant or
staff message through the provider (called by the outbound job). What both directions need to
know about a provider (credentials, numbers, headers) sits beside them.
"""
