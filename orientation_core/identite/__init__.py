"""Identity vigilance (RNIV): INS statuses and attributes, INSi look-ups, trace, conflicts, duplicates."""
