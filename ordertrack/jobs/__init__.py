"""What a command does, start to end: fetch, apply in a transaction, deliver."""
