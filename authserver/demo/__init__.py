"""Demo data: a believable trust, schools and their MIS records, for trying the product."""
