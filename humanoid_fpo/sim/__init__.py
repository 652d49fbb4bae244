"""The tracking task over a physics backend (DESIGN.md, "Tracking task")."""
