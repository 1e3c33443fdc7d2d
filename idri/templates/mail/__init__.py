"""Plain-text templates of the programme-level summary mails."""
