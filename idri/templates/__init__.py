"""Templates of the programme-level mails (district and bureau summaries) and the bureau's report."""
