"""One cog per feature: asking, reindexing, and telling what the bot knows."""
