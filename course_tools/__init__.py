"""Instructor and CI tooling for the sequence-models course (`python -m course_tools --help`)."""
import sys

# nbformat imports jsonschema, which imports rfc3987_syntax when it is installed (Jupyter's tooling
# installs it); that package builds a grammar on import, 1.7 s of CPU in every process. Notebook
# schemas never use the "iri" format it checks, and the grader starts a fresh process for every
# submission, so the tools go without it: jsonschema skips a format whose checker fails to import.
sys.modules.setdefault("rfc3987_syntax", None)
