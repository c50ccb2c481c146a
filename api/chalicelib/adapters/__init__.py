"""Adapters: the only code that talks to AWS. They implement the ports of chalicelib/ports.py
for DynamoDB and S3, so the service layer sees plain Python values."""
