"""Instructor and CI tooling for the sequence-models course (`python -m course_tools --help`)."""
