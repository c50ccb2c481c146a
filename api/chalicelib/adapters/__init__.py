"""Adapters: the only code that talks to AWS. The service layer sees plain Python values."""
