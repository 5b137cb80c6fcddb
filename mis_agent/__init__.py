"""A reference MIS connector: the agent beside a school's MIS that pushes its data to the
server over /connector/v1 and pulls back what vendors wrote (docs/connector.md).

It reads a CTF or OneRoster file with `authserver.mis_files` in place of a real MIS export,
and "applies" writebacks to a folder of JSON lines in place of the MIS. Everything else is
what a real connector does: client-credentials tokens, batches in dependency order with
deterministic ids (a rerun is answered as the first run), snapshots sent in gzip-compressed
batches and followed to their end, retries with back-off, acknowledgements.

Run `python -m mis_agent --help`.
"""
