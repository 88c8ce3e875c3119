"""Simulated groups on a simulated clock: the in-process transport, replay of JSON Lines, the demo."""
