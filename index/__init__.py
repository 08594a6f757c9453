"""citebot's answer engine: ingest, embed, store, retrieve and answer. Knows nothing of Discord."""
