"""The admin API and console: its own HTTP listener (`tykevents.admin`, docs/operations.md#admin-api).

`app.admin_app` builds the aiohttp application; the daemon hands it what it needs through the
`target.AdminTarget` protocol (it does not import the daemon) and ingest/listeners.py serves it
with the limits of every other HTTP listener. redact.py keeps secrets out of the answers.
"""
