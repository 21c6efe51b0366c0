"""Telling people and programs: messages, Telegram, delivery from the outbox."""
