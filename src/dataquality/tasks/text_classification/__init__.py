"""Text classification (and NLI: a ``text_pair`` beside the ``text``): one label per sample."""
