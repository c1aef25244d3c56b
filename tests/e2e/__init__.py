"""End-to-end tests against the dev stack deployed into the lab."""
