"""citebot's Discord layer and command line. Translates between people and the engine."""
