"""Servers the tests start on 127.0.0.1 (SFTP, an OAuth 2 provider) and helpers around them."""
