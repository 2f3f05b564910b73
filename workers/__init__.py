"""RQ job functions and the worker entry point. Thin: they re-read state and call rag_engine
and the channel clients through the app's services."""
