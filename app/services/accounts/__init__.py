"""The participants' accounts: their posts (posts.py) and the credentials each community's webhook and replies
use (credentials.py)."""
