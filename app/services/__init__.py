"""Services: what every edge (API, widget, webhooks, staff pages, CLI, jobs) shares.

They raise ``app.domain_errors``, never HTTP errors, and only flush: the view or job that owns
the unit of work commits (work queued with ``infra.queues.on_commit`` goes out then).
"""
