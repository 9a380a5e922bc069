"""The built-in mock LLM provider (OpenAI wire format); see app.py. Imports no Django."""
