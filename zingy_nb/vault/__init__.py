"""The keys: how a profile is sealed and opened, and with whose key."""
