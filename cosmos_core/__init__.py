"""Cosmos Run Dashboard core: config, database, SSH, status sync, downloads, API and CLI."""
