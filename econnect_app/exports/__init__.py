"""Delivering documents to the accountants' configured targets (SFTP, Dropbox, Octopus)."""
