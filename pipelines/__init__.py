"""Item pipelines: validate, deduplicate and store the records the spiders yield."""
