"""A tiny package of user networks and data factories, written as a user would (no ganstab imports)."""
