"""Logging from the code users already have (Hugging Face datasets and tokenizers), through ``dq``."""
