"""`python -m qna_agent` runs the command line."""

from qna_agent.cli import main

main()
