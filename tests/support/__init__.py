"""What tests in several folders share: real servers (servers.py), search spaces (spaces.py), teams and
keys (teams.py). A folder's own helpers are its support.py (or support/ package)."""
