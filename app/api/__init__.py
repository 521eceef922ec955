"""HTTP blueprints, one per area of the shop."""
