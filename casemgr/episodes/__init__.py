"""Treatment episodes: admission, stages, care team, discharge and length of stay."""
