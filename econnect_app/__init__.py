"""eConnect client linking."""
