"""``gridwatch-edge eval``: run the analyze pipeline over labelled recordings and measure every rule.
``labels`` is the truth's schema, ``runner`` runs the recordings, ``metrics`` matches events to the
truth and counts, ``report`` writes JSON and HTML."""
