"""Plans: treatment plans (versioned, signed) and level-of-care decisions."""
