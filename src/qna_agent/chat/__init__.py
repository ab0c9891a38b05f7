"""Chats and messages: tables, repository, and the service that stores a turn and runs the agent."""
