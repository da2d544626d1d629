"""Pure helpers with no Django imports: time windows, percentiles, durations."""
