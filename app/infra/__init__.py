"""Infrastructure: what the app stands on — settings, the database and its tables, Redis and the
queues, uploaded files, the knowledge base handle. Imports nothing else from ``app``."""
