"""Config: the layered parameters files read into typed dataset specs and settings, and their generated reference."""
