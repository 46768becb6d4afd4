"""A case's documents: the table and previews, attaching files (drops, the chooser, intake
progress and verdicts) and fetching server-only documents."""
